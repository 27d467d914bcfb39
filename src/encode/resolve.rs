//! Model resolution: a user's model choice becomes a folder holding `config.json`,
//! `tokenizer.json` and `model.safetensors`.
//!
//! Order: an explicit spec (`--model`), then `TERMSCORE_MODEL`, then the bundled
//! default. A spec is a local folder or a hub id `hf:ORG/NAME[@REVISION]`, resolved
//! through the standard Hugging Face cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`); with `HF_HUB_OFFLINE=1` only the cache is consulted.

use std::fmt;
use std::path::{Path, PathBuf};

/// The three files an encoder folder must hold. Only safetensors weights are accepted:
/// pickle-based `pytorch_model.bin` files can run code when loaded.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Environment variable naming the encoder to use when no flag does.
pub const MODEL_ENV: &str = "TERMSCORE_MODEL";

/// Folder name of the bundled encoder under `models/`.
pub const BUNDLED_NAME: &str = "all-MiniLM-L6-v2";

/// Where a resolved encoder came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    /// The encoder shipped in the repository's `models/` folder.
    Bundled,
    /// A local folder given by flag or environment.
    Local { origin: Origin },
    /// A hub repository found in (or downloaded to) the Hugging Face cache.
    Hub { repo: String, revision: String, commit: String, origin: Origin },
}

/// Which setting named the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Flag,
    Env,
    Classifier,
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Bundled => write!(f, "bundled default"),
            ModelSource::Local { origin } => write!(f, "local folder ({})", origin.describe()),
            ModelSource::Hub { repo, revision, commit, origin } => {
                write!(f, "hub cache hf:{repo}@{revision} (commit {commit}, {})", origin.describe())
            }
        }
    }
}

impl Origin {
    fn describe(self) -> &'static str {
        match self {
            Origin::Flag => "from --model",
            Origin::Env => "from TERMSCORE_MODEL",
            Origin::Classifier => "named by the classifier",
        }
    }
}

/// A model folder ready to load.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub dir: PathBuf,
    pub source: ModelSource,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("model folder `{0}` does not exist")]
    NoSuchDir(PathBuf),
    #[error("model folder `{dir}` lacks {missing}{hint}")]
    Missing { dir: PathBuf, missing: String, hint: &'static str },
    #[error("`{0}` is not a hub id; expected hf:ORG/NAME or hf:ORG/NAME@REVISION")]
    BadHubId(String),
    #[error(
        "hf:{repo}@{revision} is not in the Hugging Face cache at `{cache}` and HF_HUB_OFFLINE \
         is set; download it on a connected machine or unset HF_HUB_OFFLINE"
    )]
    NotCached { repo: String, revision: String, cache: PathBuf },
    #[error("failed to download hf:{repo}@{revision}: {detail}")]
    Download { repo: String, revision: String, detail: String },
    #[error("the bundled model was not found at `{0}`; set TERMSCORE_MODEL or pass --model")]
    NoBundled(PathBuf),
}

/// The repository's `models/` folder: `TERMSCORE_MODELS_DIR` if set, else the folder
/// beside the executable's crate (compile-time path), which holds the bundled models.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TERMSCORE_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// Resolves the encoder: `spec` (from a flag), else `TERMSCORE_MODEL`, else bundled.
pub fn resolve(spec: Option<&str>) -> Result<ResolvedModel, ResolveError> {
    if let Some(spec) = spec {
        return resolve_spec(spec, Origin::Flag);
    }
    match std::env::var(MODEL_ENV) {
        Ok(spec) if !spec.trim().is_empty() => resolve_spec(spec.trim(), Origin::Env),
        _ => bundled(),
    }
}

/// The bundled default encoder.
pub fn bundled() -> Result<ResolvedModel, ResolveError> {
    let dir = models_dir().join(BUNDLED_NAME);
    if !dir.is_dir() {
        return Err(ResolveError::NoBundled(dir));
    }
    check_folder(&dir)?;
    Ok(ResolvedModel { dir, source: ModelSource::Bundled })
}

/// Resolves one spec: `hf:ORG/NAME[@REV]` or a local folder.
pub fn resolve_spec(spec: &str, origin: Origin) -> Result<ResolvedModel, ResolveError> {
    if let Some(id) = spec.strip_prefix("hf:") {
        return resolve_hub(id, origin);
    }
    let dir = PathBuf::from(spec);
    if !dir.is_dir() {
        return Err(ResolveError::NoSuchDir(dir));
    }
    check_folder(&dir)?;
    Ok(ResolvedModel { dir, source: ModelSource::Local { origin } })
}

/// Checks that a folder has the three required files, naming what is missing.
pub fn check_folder(dir: &Path) -> Result<(), ResolveError> {
    let missing: Vec<&str> =
        REQUIRED_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let hint = if missing.contains(&"model.safetensors") && dir.join("pytorch_model.bin").exists() {
        " (pickle weights are refused; convert them to safetensors)"
    } else {
        ""
    };
    Err(ResolveError::Missing {
        dir: dir.to_path_buf(),
        missing: missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
        hint,
    })
}

/// The Hugging Face hub cache folder, honouring `HF_HUB_CACHE` and `HF_HOME`.
pub fn hub_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

fn parse_hub_id(id: &str) -> Result<(String, String), ResolveError> {
    let (repo, revision) = match id.split_once('@') {
        Some((repo, rev)) => (repo, rev),
        None => (id, "main"),
    };
    let valid_part = |p: &str| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() != 2 || !parts.iter().all(|p| valid_part(p)) || revision.is_empty() {
        return Err(ResolveError::BadHubId(format!("hf:{id}")));
    }
    Ok((repo.to_string(), revision.to_string()))
}

fn resolve_hub(id: &str, origin: Origin) -> Result<ResolvedModel, ResolveError> {
    let (repo, revision) = parse_hub_id(id)?;
    let cache = hub_cache_dir();
    if let Some((dir, commit)) = find_in_cache(&cache, &repo, &revision) {
        check_folder(&dir)?;
        tracing::debug!(dir = %dir.display(), "model found in the hub cache");
        return Ok(ResolvedModel {
            dir,
            source: ModelSource::Hub { repo, revision, commit, origin },
        });
    }
    if offline() {
        return Err(ResolveError::NotCached { repo, revision, cache });
    }
    download(&cache, &repo, &revision, origin)
}

/// Finds a snapshot folder for `revision` (a branch/tag name under `refs/`, or a commit
/// hash or its prefix) in a standard `models--ORG--NAME/{blobs,refs,snapshots}` cache.
pub fn find_in_cache(cache: &Path, repo: &str, revision: &str) -> Option<(PathBuf, String)> {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    let snapshots = root.join("snapshots");
    if let Ok(commit) = std::fs::read_to_string(root.join("refs").join(revision)) {
        let commit = commit.trim().to_string();
        let dir = snapshots.join(&commit);
        return dir.is_dir().then_some((dir, commit));
    }
    let is_hash = revision.len() >= 7 && revision.chars().all(|c| c.is_ascii_hexdigit());
    if !is_hash {
        return None;
    }
    let mut matches: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(revision)))
        .collect();
    if matches.len() != 1 {
        return None;
    }
    let dir = matches.pop()?;
    let commit = dir.file_name()?.to_str()?.to_string();
    Some((dir, commit))
}

fn download(
    cache: &Path,
    repo: &str,
    revision: &str,
    origin: Origin,
) -> Result<ResolvedModel, ResolveError> {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};
    let fail = |detail: String| ResolveError::Download {
        repo: repo.to_string(),
        revision: revision.to_string(),
        detail,
    };
    let api = ApiBuilder::from_env()
        .with_cache_dir(cache.to_path_buf())
        .with_progress(false)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let hub_repo =
        api.repo(Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string()));
    let mut dir = None;
    for file in REQUIRED_FILES {
        let path = hub_repo.get(file).map_err(|e| fail(format!("`{file}`: {e}")))?;
        dir = path.parent().map(Path::to_path_buf);
    }
    let dir = dir.ok_or_else(|| fail("no files".into()))?;
    let commit = dir.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    Ok(ResolvedModel {
        dir,
        source: ModelSource::Hub { repo: repo.into(), revision: revision.into(), commit, origin },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_parse_with_and_without_revision() {
        assert_eq!(
            parse_hub_id("sentence-transformers/all-MiniLM-L6-v2").unwrap(),
            ("sentence-transformers/all-MiniLM-L6-v2".into(), "main".into())
        );
        assert_eq!(parse_hub_id("a/b@1110a243").unwrap(), ("a/b".into(), "1110a243".into()));
        for bad in ["nameonly", "a/b/c", "a/@x", "a/b@", "a b/c"] {
            assert!(parse_hub_id(bad).is_err(), "{bad} should be refused");
        }
    }
}
