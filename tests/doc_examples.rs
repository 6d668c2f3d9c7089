//! Which public items have an example in their docs: a scan of the sources, not of rustdoc's
//! output (its JSON format is unstable).
//!
//! `cargo test --test doc_examples -- --nocapture` lists the items without one and their
//! count; with `EFFECT_DOC_EXAMPLES=strict` the test fails unless the count is zero
//! (`bash .ci/doc-examples` runs it so).
//!
//! # What counts
//!
//! The sources scanned are `effect-runtime/src/**/*.rs` and the facade's `src/lib.rs`. An item
//! is counted when a user can reach it and it is not `#[doc(hidden)]` or `#[cfg(test)]`:
//! - an item declared `pub` (fn, struct, enum, trait, type, const, static) whose name the
//!   runtime's `lib.rs` re-exports, or the facade's `pub mod dsl` re-exports, or that a
//!   module the runtime's `lib.rs` declares `pub mod` (not `#[doc(hidden)]`, e.g. `stream`)
//!   declares or re-exports;
//! - a `pub fn` or `pub const` in an inherent `impl` of such a type;
//! - a method declared in such a trait;
//! - in the facade, each `pub mod` and each documented `pub use` (the macros).
//!
//! Enum variants, struct fields and methods of trait impls (`impl Display for ..`) are not
//! counted: their type's or trait's example covers them. An item has an example when the doc
//! comment right above it contains a code fence (a line of three backquotes), or, for a
//! module in a file of its own, when that file's own docs (`//!`) do; a link to another
//! item's example does not count.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// A public item found by the scan.
struct Item {
    file: String,
    line: usize,
    what: String,
    has_example: bool,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

/// What the lines at the current brace depth belong to.
#[derive(Clone, PartialEq)]
enum Scope {
    /// A module's items (a file, or an inline `mod`).
    Module,
    /// An inherent impl of the named type.
    Impl(String),
    /// A trait impl: its methods are not counted.
    TraitImpl,
    /// A trait's items.
    Trait(String),
    /// Anything else (a fn body, a struct's fields, test code): not scanned.
    Skip,
}

/// The doc comment and attributes seen above the current line.
#[derive(Default)]
struct Pending {
    doc_fence: bool,
    hidden: bool,
    test_only: bool,
    documented: bool,
}

/// Strips comments, strings and char literals from a line, for counting braces and reading
/// declarations; `in_block_comment` carries a `/* .. */` across lines.
fn code_of(line: &str, in_block_comment: &mut bool) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut code = String::new();
    let mut i = 0;
    while i < chars.len() {
        if *in_block_comment {
            if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                *in_block_comment = false;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => break,
            '/' if chars.get(i + 1) == Some(&'*') => {
                *in_block_comment = true;
                i += 2;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                code.push_str("\"\"");
            }
            '\'' if chars.get(i + 1) == Some(&'\\') => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            '\'' if chars.get(i + 2) == Some(&'\'') => i += 3,
            c => {
                code.push(c);
                i += 1;
            }
        }
    }
    code
}

/// `pub KIND name` at the start of a declaration: the kind and the name.
fn pub_declaration(code: &str) -> Option<(&'static str, String)> {
    let rest = code.trim_start().strip_prefix("pub ")?;
    declaration(rest)
}

/// `KIND name` (after `pub`, or a trait's `fn name`), skipping qualifiers.
fn declaration(mut rest: &str) -> Option<(&'static str, String)> {
    for qualifier in ["const fn ", "async fn ", "unsafe fn "] {
        if let Some(after) = rest.strip_prefix(qualifier) {
            rest = after;
            return Some(("fn", ident(rest)?));
        }
    }
    for kind in [
        "fn", "struct", "enum", "trait", "type", "const", "static", "mod", "union",
    ] {
        if let Some(after) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(' ')) {
            return Some((kind, ident(after)?));
        }
    }
    None
}

fn ident(text: &str) -> Option<String> {
    let name: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The type an `impl` header is for (`impl<A> Effect<A, E> where .. {` gives `Effect`), or
/// `None` for a trait impl.
fn impl_target(header: &str) -> Option<String> {
    let mut rest = header.trim_start().strip_prefix("impl")?;
    if rest.starts_with('<') {
        let mut depth = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                rest = &rest[i + 1..];
                break;
            }
        }
    }
    let head = rest.split(" where").next().unwrap_or(rest);
    if head.contains(" for ") {
        return None;
    }
    let path = head.trim().split('<').next().unwrap_or("").trim();
    ident(path.rsplit("::").next().unwrap_or(path))
}

/// The names a `pub use ..;` statement (possibly over several lines, joined) makes public.
fn reexported_names(statement: &str) -> Vec<String> {
    let body = statement
        .trim()
        .trim_start_matches("pub use")
        .trim_end_matches(';');
    let list = match (body.find('{'), body.rfind('}')) {
        (Some(open), Some(close)) => &body[open + 1..close],
        _ => body.rsplit("::").next().unwrap_or(body),
    };
    list.split(',')
        .filter_map(|entry| {
            let entry = entry.trim();
            let name = entry.rsplit(" as ").next()?.rsplit("::").next()?;
            ident(name)
        })
        .collect()
}

/// The modules a `lib.rs` declares `pub mod NAME;` without `#[doc(hidden)]` above.
fn public_modules(lib: &str) -> Vec<String> {
    let mut modules = Vec::new();
    let mut hidden = false;
    for line in lib.lines().map(str::trim) {
        if line.starts_with("#[") {
            hidden |= line.contains("doc(hidden)");
            continue;
        }
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|rest| rest.strip_suffix(';'))
        {
            if !hidden {
                modules.push(name.trim().to_string());
            }
        }
        hidden = false;
    }
    modules
}

/// For `mod NAME` declared in `path` (`mod NAME;`, its body in a file of its own): whether
/// that file's own docs (its leading `//!` lines, which rustdoc shows as the module's) have
/// a code fence.
fn module_doc_has_fence(path: &Path, what: &str) -> bool {
    let Some(name) = what.strip_prefix("mod ") else {
        return false;
    };
    let Some(dir) = path.parent() else {
        return false;
    };
    let dir = match path.file_stem().and_then(|stem| stem.to_str()) {
        Some("mod" | "lib") | None => dir.to_path_buf(),
        Some(stem) => dir.join(stem),
    };
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
    .iter()
    .filter_map(|file| fs::read_to_string(file).ok())
    .any(|source| {
        source
            .lines()
            .map(str::trim_start)
            .take_while(|line| line.starts_with("//!") || line.is_empty())
            .any(|line| {
                line.trim_start_matches("//!")
                    .trim_start()
                    .starts_with("```")
            })
    })
}

/// Every `pub use` statement in `source`, joined onto one line each.
fn pub_uses(source: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        let trimmed = line.trim();
        if current.is_none() && trimmed.starts_with("pub use ") {
            current = Some(String::new());
        }
        if let Some(statement) = &mut current {
            statement.push_str(trimmed);
            statement.push(' ');
            if trimmed.ends_with(';') {
                statements.extend(current.take());
            }
        }
    }
    statements
}

/// Scans one file; `reachable` holds the names users can reach, `facade` is for `src/lib.rs`.
fn scan(path: &Path, shown: &str, reachable: &BTreeSet<String>, facade: bool) -> Vec<Item> {
    let source = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut items = Vec::new();
    let mut scopes: Vec<(Scope, usize)> = vec![(Scope::Module, 0)];
    let mut depth = 0usize;
    let mut pending = Pending::default();
    let mut in_block_comment = false;
    let mut header: Option<(String, usize)> = None;
    let lines: Vec<&str> = source.lines().collect();
    let mut n = 0;
    while n < lines.len() {
        let raw = lines[n];
        let trimmed = raw.trim();
        n += 1;
        let (scope, scope_depth) = scopes.last().cloned().unwrap_or((Scope::Skip, 0));
        let at_item_level = depth == scope_depth && scope != Scope::Skip;
        if at_item_level && header.is_none() {
            if let Some(doc) = trimmed.strip_prefix("///") {
                pending.documented = true;
                pending.doc_fence |= doc.trim_start().starts_with("```");
                continue;
            }
            if trimmed.starts_with("#[") || trimmed.starts_with("#![") {
                pending.hidden |= trimmed.contains("doc(hidden)");
                pending.test_only |=
                    trimmed.contains("cfg(test)") || trimmed.contains("cfg(doctest)");
                pending.documented |= trimmed.starts_with("#[doc");
                continue;
            }
        }
        let code = code_of(raw, &mut in_block_comment);
        let opens = code.matches('{').count();
        let closes = code.matches('}').count();
        // What a block opened on this line is (decided at item level only).
        let mut opened = Scope::Skip;
        if at_item_level {
            let header_text = match header.take() {
                Some((mut text, start)) => {
                    text.push(' ');
                    text.push_str(code.trim());
                    Some((text, start))
                }
                None => None,
            };
            let code_here = header_text
                .as_ref()
                .map_or(code.trim().to_string(), |(t, _)| t.clone());
            let skipped = pending.hidden || pending.test_only;
            let counted = |what: String, items: &mut Vec<Item>| {
                let has_example = pending.doc_fence || module_doc_has_fence(path, &what);
                items.push(Item {
                    file: shown.to_string(),
                    line: n,
                    what,
                    has_example,
                });
            };
            if code_here.starts_with("impl") {
                if opens == 0 && !code_here.ends_with(';') {
                    // The header goes on (generics, `where` clauses) until its `{`.
                    header = Some((code_here, n));
                    continue;
                }
                opened = match impl_target(&code_here) {
                    _ if skipped => Scope::Skip,
                    Some(target) if reachable.contains(&target) => Scope::Impl(target),
                    Some(_) => Scope::Skip,
                    None => Scope::TraitImpl,
                };
            } else if let Some((kind, name)) = pub_declaration(&code_here) {
                let reached = match &scope {
                    Scope::Module => facade || reachable.contains(&name),
                    Scope::Impl(_) => kind == "fn" || kind == "const",
                    _ => false,
                };
                if reached && !skipped {
                    let what = match &scope {
                        Scope::Impl(target) => format!("{kind} {target}::{name}"),
                        _ => format!("{kind} {name}"),
                    };
                    counted(what, &mut items);
                }
                opened = match kind {
                    "trait" if reached && !skipped => Scope::Trait(name),
                    "mod" if !skipped => Scope::Module,
                    _ => Scope::Skip,
                };
            } else if let Scope::Trait(trait_name) = &scope {
                if let Some(("fn", name)) = declaration(code_here.trim_start()) {
                    if !skipped {
                        counted(format!("fn {trait_name}::{name}"), &mut items);
                    }
                }
            } else if facade && code_here.starts_with("pub use ") && pending.documented {
                if let Some(name) = reexported_names(&code_here).pop() {
                    if !skipped {
                        counted(format!("macro {name}"), &mut items);
                    }
                }
            }
            if trimmed.is_empty() || !trimmed.starts_with("//") {
                pending = Pending::default();
            }
        }
        // One block opened on a line is the item's; further braces on it are nested code.
        for i in 0..opens {
            depth += 1;
            let scope = if i == 0 { opened.clone() } else { Scope::Skip };
            scopes.push((scope, depth));
        }
        for _ in 0..closes {
            if scopes.last().is_some_and(|(_, d)| *d == depth) && scopes.len() > 1 {
                scopes.pop();
            }
            depth = depth.saturating_sub(1);
        }
    }
    items
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Every counted item of the runtime and the facade.
fn public_items() -> Vec<Item> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runtime_src = root.join("effect-runtime/src");
    let facade = root.join("src/lib.rs");
    let facade_source = fs::read_to_string(&facade).expect("the facade's src/lib.rs");
    let runtime_lib = fs::read_to_string(runtime_src.join("lib.rs")).expect("the runtime's lib.rs");
    let mut reachable = BTreeSet::new();
    for statement in pub_uses(&runtime_lib)
        .iter()
        .chain(&pub_uses(&facade_source))
    {
        reachable.extend(reexported_names(statement));
    }
    // A public module's own items, and what it re-exports, are reachable through it.
    for name in public_modules(&runtime_lib) {
        let file = [format!("{name}.rs"), format!("{name}/mod.rs")]
            .map(|path| runtime_src.join(path))
            .into_iter()
            .find(|path| path.exists());
        let Some(file) = file else { continue };
        let source = fs::read_to_string(&file).expect("a public module's source");
        for statement in pub_uses(&source) {
            reachable.extend(reexported_names(&statement));
        }
        reachable.extend(
            source
                .lines()
                .filter_map(|line| Some(pub_declaration(line)?.1)),
        );
    }
    let mut files = Vec::new();
    rust_files(&runtime_src, &mut files);
    let mut items = Vec::new();
    for file in files {
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        items.extend(scan(&file, &shown, &reachable, false));
    }
    items.extend(scan(&facade, "src/lib.rs", &reachable, true));
    items
}

#[test]
fn public_items_have_doc_examples() {
    let items = public_items();
    assert!(
        items.len() > 100,
        "the scan found only {} items",
        items.len()
    );
    let missing: Vec<&Item> = items.iter().filter(|item| !item.has_example).collect();
    for item in &missing {
        println!("no example: {item}");
    }
    println!(
        "{} public items, {} with an example, {} without",
        items.len(),
        items.len() - missing.len(),
        missing.len()
    );
    if std::env::var("EFFECT_DOC_EXAMPLES").as_deref() == Ok("strict") {
        assert!(
            missing.is_empty(),
            "{} public items have no example",
            missing.len()
        );
    }
}

#[test]
fn the_scan_reads_declarations_as_rustdoc_would() {
    assert_eq!(
        impl_target("impl<A, E> Effect<A, E> {").as_deref(),
        Some("Effect")
    );
    assert_eq!(impl_target("impl<E> From<E> for Cause<E> {"), None);
    assert_eq!(
        impl_target("impl crate::Scope where X: Y {").as_deref(),
        Some("Scope")
    );
    assert_eq!(
        pub_declaration("pub const fn ms(n: u64) -> Duration {"),
        Some(("fn", "ms".to_string()))
    );
    assert_eq!(pub_declaration("pub(crate) fn hidden() {}"), None);
    assert_eq!(
        reexported_names("pub use effect::{ attempt, die as kill, Effect, };"),
        ["attempt", "kill", "Effect"]
    );
    let mut in_comment = false;
    assert_eq!(code_of("let c = '{'; // }", &mut in_comment), "let c = ; ");
    assert_eq!(code_of("f::<'a>(\"{\")", &mut in_comment), "f::<'a>(\"\")");
}
