//! Mail archives a mailbox export holds: a maildir, a directory of `.eml`
//! files, an mbox file, or one message, read as raw messages, lazily.

use std::path::{Path, PathBuf};

/// Raw messages, read lazily; an error names what could not be read.
pub type Messages = Box<dyn Iterator<Item = Result<Vec<u8>, String>>>;

/// Every message under `path`, as raw bytes, lazily.
pub fn messages(path: &Path) -> Result<Messages, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_dir() {
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            let iter = mail_parser::mailbox::maildir::MessageIterator::new(path)
                .map_err(|e| format!("cannot read the maildir {}: {e}", path.display()))?;
            return Ok(Box::new(iter.map(|m| {
                m.map(|m| m.unwrap_contents())
                    .map_err(|e| format!("maildir: {e}"))
            })));
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot list {}: {e}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml")))
            .collect();
        files.sort();
        return Ok(Box::new(files.into_iter().map(|f| {
            std::fs::read(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))
        })));
    }
    let head = {
        use std::io::Read;
        let mut buf = [0u8; 5];
        let mut f = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let n = f.read(&mut buf).unwrap_or(0);
        buf[..n].to_vec()
    };
    if head.starts_with(b"From ") {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let iter = mail_parser::mailbox::mbox::MessageIterator::new(std::io::BufReader::new(file));
        return Ok(Box::new(iter.map(|m| {
            m.map(|m| m.unwrap_contents())
                .map_err(|_| "mbox: a message could not be read".to_owned())
        })));
    }
    let raw = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Box::new(std::iter::once(Ok(raw))))
}
