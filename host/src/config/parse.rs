//! The file format: `key = value` lines, `#` comments, blank lines, and
//! `include FILE` (wildcards in the file name include every match, in order).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, Location};

/// One `key = value` line.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub at: Location,
}

/// Reads `path` and everything it includes, in order.
pub fn read(path: &Path) -> Result<(Vec<Entry>, Vec<PathBuf>), ConfigError> {
    let mut entries = Vec::new();
    let mut files = Vec::new();
    read_into(path, &mut Vec::new(), &mut entries, &mut files)?;
    Ok((entries, files))
}

fn read_into(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    entries: &mut Vec<Entry>,
    files: &mut Vec<PathBuf>,
) -> Result<(), ConfigError> {
    let canonical = path.canonicalize().map_err(|source| ConfigError::Read { path: path.into(), source })?;
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    stack.push(canonical.clone());
    files.push(canonical);
    let dir = path.parent().unwrap_or(Path::new("."));
    let file: Arc<Path> = Arc::from(path);
    for (n, raw) in text.lines().enumerate() {
        let at = Location { file: file.clone(), line: n + 1 };
        match parse_line(raw, &at)? {
            Line::Blank => {}
            Line::Entry(entry) => entries.push(entry),
            Line::Include(pattern) => {
                for included in expand(&dir.join(pattern), &at)? {
                    let c = included.canonicalize().map_err(|e| ConfigError::at(&at, format!("include: {e}")))?;
                    if stack.contains(&c) {
                        return Err(ConfigError::at(&at, format!("{} includes itself", included.display())));
                    }
                    read_into(&included, stack, entries, files)?;
                }
            }
        }
    }
    stack.pop();
    Ok(())
}

/// Parses text with no includes (for tests and configuration built in memory).
pub fn parse_text(name: &Path, text: &str) -> Result<Vec<Entry>, ConfigError> {
    let file: Arc<Path> = Arc::from(name);
    let mut entries = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = Location { file: file.clone(), line: n + 1 };
        match parse_line(raw, &at)? {
            Line::Blank => {}
            Line::Entry(e) => entries.push(e),
            Line::Include(_) => return Err(ConfigError::at(&at, "include is only allowed in files")),
        }
    }
    Ok(entries)
}

enum Line {
    Blank,
    Entry(Entry),
    Include(String),
}

fn parse_line(raw: &str, at: &Location) -> Result<Line, ConfigError> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(Line::Blank);
    }
    if let Some(rest) = line.strip_prefix("include ") {
        let target = rest.trim().trim_matches('"');
        if target.is_empty() {
            return Err(ConfigError::at(at, "include needs a file name"));
        }
        return Ok(Line::Include(target.to_string()));
    }
    let Some((key, value)) = line.split_once('=') else {
        return Err(ConfigError::at(at, format!("expected `key = value`, found `{}`", shorten(line))));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::at(at, "a key is missing before `=`"));
    }
    if let Some(bad) = key.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(ConfigError::at(
            at,
            format!("key `{key}` has the character {bad:?}; keys are letters, digits, `.`, `_` and `-`"),
        ));
    }
    if key.starts_with('.') || key.ends_with('.') || key.contains("..") {
        return Err(ConfigError::at(at, format!("key `{key}` has an empty part")));
    }
    Ok(Line::Entry(Entry { key: key.to_string(), value: value.trim().to_string(), at: at.clone() }))
}

/// The files an include names: one file, or, when its file name has
/// wildcards (`*`, `?`, `[...]`, as EMQX's `include` takes them), every
/// file of its directory that matches, in order of name. The directory is
/// taken literally.
fn expand(pattern: &Path, at: &Location) -> Result<Vec<PathBuf>, ConfigError> {
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let wrong = |e: &dyn std::fmt::Display| ConfigError::at(at, format!("include {}: {e}", pattern.display()));
    let dir_text = dir.to_str().ok_or_else(|| wrong(&"the directory's name is not UTF-8"))?;
    let full = Path::new(&glob::Pattern::escape(dir_text)).join(name);
    let options = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
    let mut found = Vec::new();
    for entry in glob::glob_with(&full.to_string_lossy(), options).map_err(|e| wrong(&e))? {
        let path = entry.map_err(|e| wrong(&e))?;
        if path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn shorten(s: &str) -> String {
    if s.len() <= 60 {
        return s.to_string();
    }
    let mut end = 60;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Entry>, ConfigError> {
        parse_text(Path::new("test.conf"), text)
    }

    /// Comments and blank lines are skipped; values keep `=` and `#` after the first `=`.
    #[test]
    fn reads_keys_and_values() {
        let e =
            parse("## a comment\n\nbackend.x.hook.message.publish.1 = {\"topic\": \"#\", \"a\": \"b=c\"}\n").unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, "backend.x.hook.message.publish.1");
        assert_eq!(e[0].value, "{\"topic\": \"#\", \"a\": \"b=c\"}");
        assert_eq!(e[0].at.line, 3);
    }

    /// A line without `=` is an error naming its line.
    #[test]
    fn line_without_equals_names_the_line() {
        let err = parse("a.b = 1\nthis is wrong\n").unwrap_err().to_string();
        assert!(err.starts_with("test.conf:2:"), "{err}");
    }

    /// Includes are read in place and a file that includes itself is refused.
    #[test]
    fn includes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("plugins/a.conf"), "a.x = 1\n").unwrap();
        std::fs::write(dir.path().join("plugins/b.conf"), "b.x = 2\n").unwrap();
        std::fs::write(dir.path().join("main.conf"), "m.x = 0\ninclude plugins/*.conf\nm.y = 3\n").unwrap();
        let (entries, files) = read(&dir.path().join("main.conf")).unwrap();
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["m.x", "a.x", "b.x", "m.y"]);
        assert_eq!(files.len(), 3);

        // EMQX's wildcards: `?` and `[...]` too; hidden files and directories
        // are not matched, and a directory with wildcard characters is literal.
        std::fs::write(dir.path().join("plugins/.c.conf"), "c.x = 9\n").unwrap();
        std::fs::create_dir(dir.path().join("plugins/d.conf")).unwrap();
        std::fs::create_dir(dir.path().join("odd[1]")).unwrap();
        std::fs::write(dir.path().join("odd[1]/e1.conf"), "e.x = 1\n").unwrap();
        std::fs::write(dir.path().join("odd[1]/e2.conf"), "e.y = 2\n").unwrap();
        std::fs::write(dir.path().join("odd[1]/f.conf"), "f.x = 3\n").unwrap();
        std::fs::write(dir.path().join("wild.conf"), "include plugins/?.conf\ninclude odd[1]/e[12].conf\n").unwrap();
        let (entries, _) = read(&dir.path().join("wild.conf")).unwrap();
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a.x", "b.x", "e.x", "e.y"]);

        std::fs::write(dir.path().join("loop.conf"), "include loop.conf\n").unwrap();
        let err = read(&dir.path().join("loop.conf")).unwrap_err().to_string();
        assert!(err.contains("includes itself"), "{err}");
    }
}
