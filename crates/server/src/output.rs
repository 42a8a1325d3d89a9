//! What the CLI prints for people: results on stdout, progress and errors
//! on stderr (so `rapport openapi > file` stays clean).

#[allow(clippy::print_stdout)]
pub fn line(text: &str) {
    println!("{text}");
}

pub fn progress(text: &str) {
    eprintln!("{text}...");
}

pub fn error(text: &str) {
    eprintln!("error: {text}");
}
