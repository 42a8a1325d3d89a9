//! JSON in text columns, converted where rows are read and written: a
//! corrupt value fails the read loudly instead of showing as empty.

/// A JSON array of strings stored as text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonList(pub Vec<String>);

impl TryFrom<String> for JsonList {
    type Error = serde_json::Error;

    fn try_from(text: String) -> Result<JsonList, serde_json::Error> {
        serde_json::from_str(&text).map(JsonList)
    }
}

impl From<JsonList> for String {
    fn from(list: JsonList) -> String {
        // A list of strings always serialises.
        serde_json::to_string(&list.0).unwrap_or_else(|_| String::from("[]"))
    }
}

impl From<Vec<String>> for JsonList {
    fn from(list: Vec<String>) -> JsonList {
        JsonList(list)
    }
}

impl std::ops::Deref for JsonList {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_round_trips_and_garbage_is_an_error() {
        let list = JsonList(vec!["a@x.example".into(), "b@x.example".into()]);
        let text: String = list.clone().into();
        assert_eq!(JsonList::try_from(text).expect("parses"), list);
        assert!(JsonList::try_from("not json".to_owned()).is_err());
        assert!(JsonList::try_from("{\"a\":1}".to_owned()).is_err());
    }
}
