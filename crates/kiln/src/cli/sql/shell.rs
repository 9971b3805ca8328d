//! The `kiln sql` shell: statements end with `;` and may span lines; `\d`
//! lists the tables, `\d <table>` its columns, `\q` quits.
//!
//! ```text
//!  stdin is a terminal ─► rustyline: line editing, history (↑/↓, Ctrl-R)
//!      loaded from and appended to the history file after each statement;
//!      Ctrl-C drops the statement being typed, Ctrl-D quits
//!  otherwise (a pipe, a script) ─► plain lines, no prompt editing
//!  both ─► Statements (lines → statements and commands) ─► the server
//! ```

use super::Session;
use anyhow::Context;
use rustyline::error::ReadlineError;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// What a line of input asks for.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The statement goes on on the next line.
    More,
    /// Run this SQL (a complete statement, or what a `\` command stands for).
    Run(String),
    /// An unknown `\` command.
    Unknown(String),
    Quit,
}

/// Assembles input lines into statements and `\` commands.
#[derive(Debug, Default)]
struct Statements {
    pending: String,
}

impl Statements {
    fn prompt(&self) -> &'static str {
        if self.pending.is_empty() {
            "kiln> "
        } else {
            "  ... "
        }
    }

    /// Forgets a statement typed halfway (Ctrl-C).
    fn clear(&mut self) {
        self.pending.clear();
    }

    fn feed(&mut self, line: &str) -> Step {
        let trimmed = line.trim();
        if self.pending.is_empty() && trimmed.starts_with('\\') {
            if trimmed == "\\q" {
                return Step::Quit;
            }
            return match meta_command(trimmed) {
                Some(sql) => Step::Run(sql),
                None => Step::Unknown(trimmed.to_string()),
            };
        }
        if trimmed.is_empty() {
            return Step::More;
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        if !trimmed.ends_with(';') {
            return Step::More;
        }
        let sql = self.pending.trim().trim_end_matches(';').to_string();
        self.pending.clear();
        Step::Run(sql)
    }
}

/// What a `\` command of the shell runs.
fn meta_command(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    match (words.next()?, words.next(), words.next()) {
        ("\\d", None, _) => Some(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
                .into(),
        ),
        ("\\d", Some(table), None) => Some(format!(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{}' ORDER BY ordinal_position",
            table.replace('\'', "''")
        )),
        _ => None,
    }
}

/// Runs the shell: with line editing on a terminal, plainly otherwise.
pub(super) async fn run(session: &Session, history: Option<PathBuf>) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        interactive(session, history).await
    } else {
        piped(session).await
    }
}

/// Outcome of one step: whether the shell goes on.
async fn perform(session: &Session, step: Step) -> bool {
    match step {
        Step::More => {}
        Step::Run(sql) => match session.run(&sql).await {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e:#}"),
        },
        Step::Unknown(cmd) => eprintln!("unknown command {cmd}: \\d, \\d <table>, \\q"),
        Step::Quit => return false,
    }
    true
}

/// stdin is a pipe or a file: read it line by line (scripts work).
async fn piped(session: &Session) -> anyhow::Result<()> {
    let mut statements = Statements::default();
    let show_prompt = |statements: &Statements| {
        print!("{}", statements.prompt());
        let _ = std::io::stdout().flush();
    };
    show_prompt(&statements);
    for line in std::io::stdin().lock().lines() {
        if !perform(session, statements.feed(&line?)).await {
            break;
        }
        show_prompt(&statements);
    }
    println!();
    Ok(())
}

/// A terminal: rustyline with history, saved after every statement so a
/// killed shell keeps it.
async fn interactive(session: &Session, history: Option<PathBuf>) -> anyhow::Result<()> {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)?
        .build();
    let mut editor = rustyline::DefaultEditor::with_config(config)?;
    if let Some(path) = &history {
        match editor.load_history(path) {
            Ok(()) => {}
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("warning: history {} not read: {e}", path.display()),
        }
    }
    println!("kiln sql: statements end with ';'. \\d tables, \\d <table> columns, \\q quits.");
    let mut statements = Statements::default();
    let mut typed = String::new();
    loop {
        let prompt = statements.prompt();
        // rustyline blocks the thread; let the runtime move its other work.
        let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                statements.clear();
                typed.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("reading the terminal"),
        };
        let step = statements.feed(&line);
        if !line.trim().is_empty() {
            typed.push_str(if typed.is_empty() { "" } else { " " });
            typed.push_str(line.trim());
        }
        if step != Step::More && !typed.is_empty() {
            // One history entry per statement, however many lines it took.
            editor.add_history_entry(std::mem::take(&mut typed))?;
            if let Some(path) = &history
                && let Err(e) = editor.append_history(path)
            {
                eprintln!("warning: history {} not written: {e}", path.display());
            }
        }
        if !perform(session, step).await {
            break;
        }
    }
    Ok(())
}

/// `~/.kiln_sql_history`: where history goes without `--history`.
pub(super) fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kiln_sql_history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_span_lines_and_commands_stand_alone() {
        let mut s = Statements::default();
        assert_eq!(s.prompt(), "kiln> ");
        assert_eq!(s.feed("SELECT 1"), Step::More);
        assert_eq!(s.prompt(), "  ... ");
        assert_eq!(s.feed("  AS one;"), Step::Run("SELECT 1\n  AS one".into()));
        assert_eq!(s.prompt(), "kiln> ");
        assert_eq!(s.feed(""), Step::More);
        assert!(
            matches!(s.feed("\\d"), Step::Run(sql) if sql.contains("information_schema.tables"))
        );
        assert!(
            matches!(s.feed("\\d frames"), Step::Run(sql) if sql.contains("table_name = 'frames'"))
        );
        assert!(matches!(s.feed("\\d a'b"), Step::Run(sql) if sql.contains("'a''b'")));
        assert_eq!(s.feed("\\x"), Step::Unknown("\\x".into()));
        assert_eq!(s.feed("\\q"), Step::Quit);
        // Inside a statement, a line starting with `\` is part of it.
        assert_eq!(s.feed("SELECT"), Step::More);
        assert_eq!(s.feed("\\q;"), Step::Run("SELECT\n\\q".into()));
        s.feed("SELECT");
        s.clear();
        assert_eq!(s.prompt(), "kiln> ");
    }
}
