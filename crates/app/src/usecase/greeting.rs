//! The greeting a chat opens with, written in the transaction that opens
//! the case (so no chat exists without it).

use rapport_domain::{ContactId, EntryKind};
use rapport_store::DbConnection;
use rapport_store::case::{self as store_case, Author, Case, Entry};

use super::UseCaseError;
use crate::state::AppState;

/// The greeting a contact gets on starting a chat: the team by name, and
/// the triage question when no category was given.
pub(super) fn greet(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    contact: ContactId,
) -> Result<Option<Entry>, UseCaseError> {
    if !state.config.settings.chat.greeting {
        return Ok(None);
    }
    let first_name = rapport_store::contact::find(conn, contact)?
        .map(|c| {
            c.name
                .as_str()
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let team = rapport_store::team::find_if_any(conn, case.team_id)?.map(|t| t.name);
    let desk = &state.config.settings.instance.name;
    let mut text = match team {
        Some(team) => {
            format!("Hello {first_name}, you are chatting with the {team} team at {desk}.")
        }
        None => format!("Hello {first_name}, you are chatting with {desk}."),
    };
    text = text.replace("Hello ,", "Hello,");
    if case.category.is_none() {
        text.push_str(&format!(
            " What is this about: {}?",
            state.config.settings.cases.categories.join(", ")
        ));
    }
    text.push_str(&format!(" Your case number is #{}.", case.number));
    Ok(Some(store_case::insert_entry(
        conn,
        case,
        EntryKind::Chat,
        Author::System,
        &text,
        None,
    )?))
}
