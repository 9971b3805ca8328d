use super::*;
use crate::labels::Label;
use proptest::prelude::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
}

fn parts(s: &Selector) -> Vec<(&str, MatchOp, &str)> {
    s.matchers()
        .iter()
        .map(|m| (m.name(), m.op(), m.value()))
        .collect()
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn empty_selector_matches_everything() {
    for input in ["{}", " { } ", "{\n}"] {
        let s = sel(input);
        assert!(s.is_empty());
        assert!(s.matches(&Labels::default()));
        assert!(s.matches(&labels(&[("service_name", "x")])));
        assert_eq!(s.to_string(), "{}");
    }
}

#[test]
fn every_operator() {
    let s = sel(r#"{a="b", c!="d", e=~"x|y", f!~"z.*"}"#);
    use MatchOp::*;
    assert_eq!(
        parts(&s),
        [
            ("a", Equal, "b"),
            ("c", NotEqual, "d"),
            ("e", RegexMatch, "x|y"),
            ("f", RegexNoMatch, "z.*")
        ]
    );
    assert!(s.matches(&labels(&[("a", "b"), ("c", "x"), ("e", "y"), ("f", "q")])));
    assert!(!s.matches(&labels(&[("a", "B"), ("c", "x"), ("e", "y"), ("f", "q")])));
    assert!(!s.matches(&labels(&[("a", "b"), ("c", "d"), ("e", "y"), ("f", "q")])));
    assert!(!s.matches(&labels(&[("a", "b"), ("c", "x"), ("e", "z"), ("f", "q")])));
    assert!(!s.matches(&labels(&[("a", "b"), ("c", "x"), ("e", "y"), ("f", "zzz")])));
}

#[test]
fn whitespace_and_trailing_commas() {
    let want = sel(r#"{a="b",c=~"d"}"#);
    for input in [
        r#"{a="b",c=~"d",}"#,
        " {\ta = \"b\" ,\n c =~ 'd' , } ",
        r#"{a=`b`, c=~`d`}"#,
    ] {
        assert_eq!(sel(input), want, "{input}");
    }
}

#[test]
fn profile_type_before_the_braces() {
    let id = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    let s = sel(&format!("{id}{{service_name=\"x\"}}"));
    assert_eq!(
        parts(&s),
        [
            ("__profile_type__", MatchOp::Equal, id),
            ("service_name", MatchOp::Equal, "x")
        ]
    );
    assert_eq!(s.profile_type(), Some(id));
    assert_eq!(s.equal_value("service_name"), Some("x"));
    // Empty period parts, spaces, a bare name, and an empty brace pair.
    assert_eq!(
        sel("memory:inuse_space:bytes:: { }").profile_type(),
        Some("memory:inuse_space:bytes::")
    );
    assert_eq!(parts(&sel(id)), [("__profile_type__", MatchOp::Equal, id)]);
    assert_eq!(
        parts(&sel(&format!(" {id} "))),
        [("__profile_type__", MatchOp::Equal, id)]
    );
    // Prometheus 3's quoted name inside the braces.
    assert_eq!(sel(r#"{"my.type", a="b"}"#).profile_type(), Some("my.type"));
}

#[test]
fn go_escapes_in_all_quote_styles() {
    let s = sel(r#"{a="x\"y\\z\n\t\x41\101\u00e9\U0001F600\a\b\f\r\v'"}"#);
    assert_eq!(
        s.equal_value("a"),
        Some("x\"y\\z\n\tAAé😀\u{7}\u{8}\u{c}\r\u{b}'")
    );
    let s = sel(r#"{a='it\'s "q"'}"#);
    assert_eq!(s.equal_value("a"), Some("it's \"q\""));
    let s = sel("{a=`raw\\n\\d+ \"'\r`}");
    assert_eq!(s.equal_value("a"), Some("raw\\n\\d+ \"'"));
}

#[test]
fn utf8_label_names_are_quoted() {
    let s = sel(r#"{"service.name"="x", "ü"!="y"}"#);
    assert_eq!(parts(&s)[0], ("service.name", MatchOp::Equal, "x"));
    assert_eq!(s.to_string(), r#"{"service.name"="x", "ü"!="y"}"#);
    assert!(s.matches(&labels(&[("service.name", "x")])));
}

#[test]
fn regexes_are_fully_anchored() {
    let m = |re: &str| Matcher::new("a", MatchOp::RegexMatch, re).unwrap();
    assert!(m("b").matches("b"));
    assert!(!m("b").matches("abc"));
    assert!(!m("b").matches("ba"));
    // Alternation stays inside the anchors: not ^a|b$.
    assert!(m("a|b").matches("a") && m("a|b").matches("b"));
    assert!(!m("a|b").matches("ab") && !m("a|b").matches("xb"));
    assert!(m("x.*").matches("xyz") && !m("x.*").matches("yx"));
    // Prometheus 3: `.` also matches a newline.
    assert!(m("x.y").matches("x\ny"));
    let not = Matcher::new("a", MatchOp::RegexNoMatch, "x.*").unwrap();
    assert!(not.matches("yx") && !not.matches("xy"));
}

#[test]
fn a_missing_label_reads_as_empty() {
    let none = Labels::default();
    let some = labels(&[("x", "1")]);
    let check = |s: &str, on_none: bool, on_some: bool| {
        let s = sel(s);
        assert_eq!(
            (s.matches(&none), s.matches(&some)),
            (on_none, on_some),
            "{s}"
        );
    };
    check(r#"{x=""}"#, true, false);
    check(r#"{x!=""}"#, false, true);
    check(r#"{x=~".*"}"#, true, true);
    check(r#"{x=~".+"}"#, false, true);
    check(r#"{x!="v"}"#, true, true);
    check(r#"{x!~"1"}"#, true, false);
    check(r#"{x="1"}"#, false, true);
}

#[test]
fn builder_and_helpers() {
    let s = sel(r#"{service_name=~"a.*", service_name="api", env!="dev"}"#)
        .with(Matcher::equal("__profile_type__", "p:t:u::"));
    assert_eq!(s.equal_value("service_name"), Some("api"));
    assert_eq!(s.equal_value("env"), None, "only = matchers pin a value");
    assert_eq!(s.profile_type(), Some("p:t:u::"));
    assert_eq!(s.matchers().len(), 4);
    let built: Selector = [Matcher::equal("a", "b")].into_iter().collect();
    assert_eq!(built, sel(r#"{a="b"}"#));
    assert_eq!("{a='b'}".parse::<Selector>().unwrap(), built);
}

#[test]
fn display_round_trips() {
    for input in [
        "{}",
        r#"{a="b", c!="d", e=~"x|y", f!~"z.*"}"#,
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"x\"}",
        r#"{a="quote\" backslash\\ tab\t nl\n bell\a del\x7f é 😀"}"#,
        r#"{a=~"\\d+\\.\\d+"}"#,
        r#"{"dotted.name"="v"}"#,
    ] {
        let s = sel(input);
        let shown = s.to_string();
        assert_eq!(sel(&shown), s, "{input} → {shown}");
    }
    assert_eq!(
        sel("p:t:u::{a='x'}").to_string(),
        r#"{__profile_type__="p:t:u::", a="x"}"#
    );
}

#[test]
fn malformed_selectors_say_why() {
    let cases = [
        ("", "empty selector"),
        ("   ", "empty selector"),
        (
            "{",
            "unexpected end of input at position 1, expected a label name or '}'",
        ),
        (
            r#"{a="b""#,
            "unexpected end of input at position 6, expected ',' or '}'",
        ),
        (r#"{a="b}"#, "unterminated string starting at position 3"),
        (
            "{a}",
            "unexpected character '}' at position 2 after label \"a\"",
        ),
        (
            "{a=b}",
            "unexpected character 'b' at position 3, expected a quoted value for label \"a\"",
        ),
        (r#"{a=="b"}"#, "unexpected '==' at position 2"),
        (r#"{a=~"("}"#, "invalid regex for label \"a\""),
        (r#"{a=~"a)|(b"}"#, "invalid regex for label \"a\""),
        (
            r#"{a="\q"}"#,
            "invalid escape sequence at position 4: unknown escape \\q",
        ),
        (r#"{a='\"'}"#, "unknown escape \\\""),
        (r#"{a="\u00"}"#, "want 4 base-16 digits"),
        (r#"{a="\777"}"#, "octal value above"),
        (r#"{a="\xff"}"#, "not valid UTF-8"),
        (r#"{a="\uD800"}"#, "is not a character"),
        ("{a=\"x\ny\"}", "newline in string at position 5"),
        (
            r#"{a="b"} x"#,
            "unexpected character 'x' at position 8, expected the end of the selector",
        ),
        (
            r#"{a="b" c="d"}"#,
            "unexpected character 'c' at position 7, expected ',' or '}'",
        ),
        (
            r#"{1a="b"}"#,
            "unexpected character '1' at position 1, expected a label name",
        ),
        (r#"{a="b", ?}"#, "unexpected character '?' at position 8"),
        (
            "{,}",
            "unexpected character ',' at position 1, expected a label name",
        ),
        (r#"{a!"b"}"#, "unexpected character '!' at position 2"),
        (r#"{""="x"}"#, "empty label name at position 1"),
        ("{a=`x}", "unterminated string starting at position 3"),
        (
            "foo-bar{}",
            "unexpected character '-' at position 3, expected '{' or a profile type",
        ),
        ("{ü=\"x\"}", "unexpected character 'ü' at position 1"),
        ("é{}", "unexpected character 'é' at position 0"),
    ];
    for (input, want) in cases {
        match Selector::parse(input) {
            Err(ModelError::InvalidSelector { selector, reason }) => {
                assert_eq!(selector, input);
                assert!(
                    reason.contains(want),
                    "{input:?}: reason {reason:?} lacks {want:?}"
                );
            }
            other => panic!("{input:?}: expected InvalidSelector, got {other:?}"),
        }
    }
}

#[test]
fn matcher_new_rejects_bad_regex_with_context() {
    let err = Matcher::new("svc", MatchOp::RegexNoMatch, "[").unwrap_err();
    let ModelError::InvalidSelector { selector, reason } = err else {
        panic!()
    };
    assert_eq!(selector, r#"{svc!~"["}"#);
    assert!(
        reason.starts_with("invalid regex for label \"svc\""),
        "{reason}"
    );
    assert!(!reason.contains('\n'), "one-line reason: {reason}");
}

fn arb_matcher() -> impl Strategy<Value = Matcher> {
    let name = prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        "[a-z.ü]{1,6}",
        Just("__profile_type__".to_string())
    ];
    let plain = (
        name.clone(),
        prop_oneof![Just(MatchOp::Equal), Just(MatchOp::NotEqual)],
        any::<String>(),
    )
        .prop_map(|(n, op, v)| Matcher::new(n, op, v).unwrap());
    let regex = (
        name,
        prop_oneof![Just(MatchOp::RegexMatch), Just(MatchOp::RegexNoMatch)],
        prop::sample::select(&["", ".*", "a|b", "x\\d+", "[\"']\\\\", "é.+\n"][..]),
    )
        .prop_map(|(n, op, v)| Matcher::new(n, op, v).unwrap());
    prop_oneof![plain, regex]
}

proptest! {
    #[test]
    fn display_then_parse_is_identity(matchers in prop::collection::vec(arb_matcher(), 0..5)) {
        let s = Selector::new(matchers);
        prop_assert_eq!(Selector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn parse_never_panics(input in ".{0,40}") {
        let _ = Selector::parse(&input);
        let _ = Selector::parse(&format!("{{a=\"{input}"));
    }
}
