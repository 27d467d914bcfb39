//! Labelled clause files: JSONL, one `{"text": "...", "labels": ["id", ...]}` per line
//! (other keys are ignored), become [`Example`]s checked against the taxonomy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One labelled clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub labels: Vec<String>,
    /// Labels this example is annotated for beyond its file's scope (optional `scope`
    /// key): e.g. unlabelled CUAD paragraphs are declared negatives for the creator/AI
    /// labels, which CUAD never annotates.
    pub extra_scope: Vec<String>,
}

/// A labelled file. `scope` is the set of labels the file annotates: a file says
/// nothing about labels it never uses (CUAD marks no arbitration clauses, CLAUDETTE no
/// licences), so training treats those labels as unknown for its examples, not as
/// negatives. By default the scope is every label that occurs in the file.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub examples: Vec<Example>,
    pub scope: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("failed to read `{path}`: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`{path}` line {line}: {detail}")]
    Line { path: PathBuf, line: usize, detail: String },
    #[error("`{path}`: unknown label ids: {ids} (see data/taxonomy.toml)")]
    UnknownLabels { path: PathBuf, ids: String },
    #[error("`{path}` holds no examples")]
    Empty { path: PathBuf },
}

#[derive(Deserialize)]
struct Row {
    text: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    scope: Vec<String>,
}

/// Reads a labelled JSONL file; every label must be one of `known`.
pub fn read_labelled(path: &Path, known: &dyn Fn(&str) -> bool) -> Result<Dataset, DatasetError> {
    let content = std::fs::read_to_string(path)
        .map_err(|source| DatasetError::Io { path: path.to_path_buf(), source })?;
    let mut examples = Vec::new();
    let mut unknown = BTreeSet::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line).map_err(|e| DatasetError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            detail: format!("expected {{\"text\": ..., \"labels\": [...]}}: {e}"),
        })?;
        for l in row.labels.iter().chain(&row.scope) {
            if !known(l) {
                unknown.insert(l.clone());
            }
        }
        let mut labels = row.labels;
        labels.sort();
        labels.dedup();
        examples.push(Example { text: row.text, labels, extra_scope: row.scope });
    }
    if !unknown.is_empty() {
        let ids = unknown.into_iter().collect::<Vec<_>>().join(", ");
        return Err(DatasetError::UnknownLabels { path: path.to_path_buf(), ids });
    }
    if examples.is_empty() {
        return Err(DatasetError::Empty { path: path.to_path_buf() });
    }
    let scope = examples.iter().flat_map(|e| e.labels.iter().cloned()).collect();
    Ok(Dataset { path: path.to_path_buf(), examples, scope })
}

/// Parses input texts: JSONL objects with a "text" key, or plain lines of text.
/// Blank lines are skipped; a line that starts with `{` must be valid JSON with "text".
pub fn parse_texts(content: &str) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct TextRow {
        text: String,
    }
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('{') {
            let row: TextRow = serde_json::from_str(trimmed)
                .map_err(|e| format!("line {}: expected {{\"text\": ...}}: {e}", i + 1))?;
            out.push(row.text);
        } else {
            out.push(trimmed.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_and_jsonl_mix() {
        let texts = parse_texts("first clause\n\n{\"text\": \"second\", \"id\": 3}\n").unwrap();
        assert_eq!(texts, vec!["first clause", "second"]);
        let err = parse_texts("{\"txt\": 1}").unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
    }

    #[test]
    fn unknown_labels_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(
            &path,
            "{\"text\":\"a\",\"labels\":[\"b\",\"zz\"]}\n{\"text\":\"c\",\"labels\":[\"yy\"]}\n",
        )
        .unwrap();
        let err = read_labelled(&path, &|l| l == "b").unwrap_err().to_string();
        assert!(err.contains("unknown label ids: yy, zz"), "{err}");
        let ok = read_labelled(&path, &|_| true).unwrap();
        assert_eq!(ok.examples.len(), 2);
        assert_eq!(ok.scope.iter().cloned().collect::<Vec<_>>(), vec!["b", "yy", "zz"]);
    }
}
