//! A hand-written parser for PromQL metric selectors; every error names what
//! was expected and where (a 0-based character position).
//!
//! ```text
//!  selector := ws [metric_name] ws [ '{' ws [matcher (ws ',' ws matcher)* ws [',']] ws '}' ] ws
//!  matcher  := (label_name | string) ws op ws string   |   string   (quoted metric name)
//!  op       := '=' | '!=' | '=~' | '!~'
//!  string   := '"' go-escaped '"' | '\'' go-escaped '\'' | '`' raw '`'
//! ```

use super::{MatchOp, Matcher};
use crate::error::ModelError;
use crate::labels::names;

type Result<T> = std::result::Result<T, String>;

pub(super) fn parse(input: &str) -> Result<Vec<Matcher>> {
    let mut p = Parser { src: input, pos: 0 };
    p.skip_ws();
    if p.peek().is_none() {
        return Err("empty selector: use {} to select every series".into());
    }
    let mut matchers = Vec::new();
    if p.peek().is_some_and(is_metric_start) {
        let name = p.take_while(is_metric_char);
        matchers.push(Matcher::equal(names::PROFILE_TYPE, name));
        p.skip_ws();
        if p.peek().is_none() {
            return Ok(matchers);
        }
    }
    match p.peek() {
        Some('{') => p.bump(),
        Some(c) => return Err(p.unexpected(c, "'{' or a profile type")),
        None => unreachable!("checked above"),
    }
    loop {
        p.skip_ws();
        match p.peek() {
            Some('}') => {
                p.bump();
                break;
            }
            None => return Err(p.eof("a label name or '}'")),
            Some(_) => matchers.push(p.matcher()?),
        }
        p.skip_ws();
        match p.peek() {
            Some(',') => p.bump(),
            Some('}') => {}
            Some(c) => return Err(p.unexpected(c, "',' or '}'")),
            None => return Err(p.eof("',' or '}'")),
        }
    }
    p.skip_ws();
    if let Some(c) = p.peek() {
        return Err(p.unexpected(c, "the end of the selector after '}'"));
    }
    Ok(matchers)
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.src[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn skip_ws(&mut self) {
        self.take_while(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    /// The 0-based character position of byte offset `pos`.
    fn position(&self, pos: usize) -> usize {
        self.src[..pos].chars().count()
    }

    fn unexpected(&self, c: char, expected: &str) -> String {
        format!(
            "unexpected character {c:?} at position {}, expected {expected}",
            self.position(self.pos)
        )
    }

    fn eof(&self, expected: &str) -> String {
        format!(
            "unexpected end of input at position {}, expected {expected}",
            self.position(self.pos)
        )
    }

    /// `name op value`, or a lone quoted metric name (Prometheus 3 UTF-8 syntax).
    fn matcher(&mut self) -> Result<Matcher> {
        let name_at = self.position(self.pos);
        let (name, quoted) = match self.peek() {
            Some('"' | '\'' | '`') => (self.string()?, true),
            Some(c) if is_label_start(c) => (self.take_while(is_label_char).to_string(), false),
            Some(c) => return Err(self.unexpected(c, "a label name")),
            None => return Err(self.eof("a label name")),
        };
        if name.is_empty() {
            return Err(format!("empty label name at position {name_at}"));
        }
        self.skip_ws();
        let op = match (self.peek(), self.peek2()) {
            (Some('='), Some('~')) => MatchOp::RegexMatch,
            (Some('!'), Some('~')) => MatchOp::RegexNoMatch,
            (Some('!'), Some('=')) => MatchOp::NotEqual,
            (Some('='), Some('=')) => {
                return Err(format!(
                    "unexpected '==' at position {}, expected one of =, !=, =~, !~",
                    self.position(self.pos)
                ));
            }
            (Some('='), _) => MatchOp::Equal,
            // `{"metric.name"}`: a quoted metric name, i.e. a profile type.
            (Some(',' | '}'), _) if quoted => {
                return Ok(Matcher::equal(names::PROFILE_TYPE, name));
            }
            (Some(c), _) => {
                return Err(format!(
                    "unexpected character {c:?} at position {} after label {name:?}, \
                     expected one of =, !=, =~, !~",
                    self.position(self.pos)
                ));
            }
            (None, _) => return Err(self.eof("a match operator (=, !=, =~, !~)")),
        };
        self.bump();
        if op != MatchOp::Equal {
            self.bump();
        }
        self.skip_ws();
        let value = match self.peek() {
            Some('"' | '\'' | '`') => self.string()?,
            Some(c) => {
                return Err(self.unexpected(c, &format!("a quoted value for label {name:?}")));
            }
            None => return Err(self.eof(&format!("a quoted value for label {name:?}"))),
        };
        Matcher::new(name, op, value).map_err(|e| match e {
            ModelError::InvalidSelector { reason, .. } => reason,
            other => other.to_string(),
        })
    }

    /// A quoted string at the cursor, unescaped like Go's `strconv.Unquote`.
    fn string(&mut self) -> Result<String> {
        let start = self.pos;
        let quote = self.peek().expect("caller saw a quote");
        self.bump();
        let unterminated = |p: &Self| {
            format!(
                "unterminated string starting at position {}",
                p.position(start)
            )
        };
        if quote == '`' {
            let raw = self.take_while(|c| c != '`');
            if self.peek().is_none() {
                return Err(unterminated(self));
            }
            self.bump();
            return Ok(raw.replace('\r', ""));
        }
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(unterminated(self));
            };
            if c == quote {
                self.bump();
                break;
            }
            match c {
                '\n' => {
                    return Err(format!(
                        "newline in string at position {} (string starts at position {})",
                        self.position(self.pos),
                        self.position(start)
                    ));
                }
                '\\' => self.escape(quote, &mut bytes)?,
                c => {
                    let mut utf8 = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                    self.bump();
                }
            }
        }
        String::from_utf8(bytes).map_err(|_| {
            format!(
                "string starting at position {} is not valid UTF-8 after unescaping",
                self.position(start)
            )
        })
    }

    /// One escape sequence after a backslash at the cursor.
    fn escape(&mut self, quote: char, out: &mut Vec<u8>) -> Result<()> {
        let at = self.position(self.pos);
        self.bump();
        let Some(c) = self.peek() else {
            return Err(format!("unterminated escape sequence at position {at}"));
        };
        self.bump();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let bad = |what: &str| format!("invalid escape sequence at position {at}: {what}");
        let digits = |p: &mut Self, n: usize, radix: u32| -> Result<u32> {
            let mut v = 0u32;
            for _ in 0..n {
                match p.peek().and_then(|d| d.to_digit(radix)) {
                    Some(d) => {
                        v = v * radix + d;
                        p.bump();
                    }
                    None => return Err(bad(&format!("want {n} base-{radix} digits"))),
                }
            }
            Ok(v)
        };
        match c {
            'x' => out.push(digits(self, 2, 16)? as u8),
            '0'..='7' => {
                let v = (c as u32 - '0' as u32) * 64 + digits(self, 2, 8)?;
                if v > 255 {
                    return Err(bad("octal value above \\377"));
                }
                out.push(v as u8);
            }
            'u' | 'U' => {
                let v = digits(self, if c == 'u' { 4 } else { 8 }, 16)?;
                let ch =
                    char::from_u32(v).ok_or_else(|| bad(&format!("U+{v:X} is not a character")))?;
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
            }
            c => return Err(bad(&format!("unknown escape \\{c}"))),
        }
        Ok(())
    }
}

fn is_metric_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn is_label_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
