//! Configuration errors, each naming the file and line it comes from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a key was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{at}: {message}")]
    At { at: Location, message: String },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

impl ConfigError {
    pub fn at(at: &Location, message: impl Into<String>) -> ConfigError {
        ConfigError::At { at: at.clone(), message: message.into() }
    }
}
