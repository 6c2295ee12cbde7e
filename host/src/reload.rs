//! Hot reload: a file watcher that only signals; the runtime builds and
//! checks the whole new configuration and swaps it in, or keeps the old.
//!
//! Directories are watched rather than files, since editors replace a file
//! by renaming a new one over it. Only configuration (`.conf`), guest
//! (`.wasm`) and template (`.tmpl`) files count; a database file written in
//! the same directory does not.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::runtime::Runtime;

/// Changes closer together than this become one reload.
const SETTLE: Duration = Duration::from_millis(300);

/// Keeps the watcher alive; dropping it stops watching.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
}

pub fn watch(runtime: Arc<Runtime>) -> notify::Result<Watch> {
    let loaded = runtime.loaded();
    let mut dirs: BTreeSet<PathBuf> =
        loaded.config.files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    if let Some(dir) = &loaded.config.cistern.guests_dir {
        dirs.insert(dir.clone());
    }
    let (signal, mut changes) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let relevant = event
            .paths
            .iter()
            .any(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("conf" | "wasm" | "tmpl")));
        if relevant {
            let _ = signal.try_send(());
        }
    })?;
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    tracing::info!(dirs = ?dirs, "watching for configuration and guest changes");
    tokio::spawn(async move {
        while changes.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            while changes.try_recv().is_ok() {}
            // The runtime logs and counts the outcome either way.
            let _ = runtime.reload().await;
        }
    });
    Ok(Watch { _watcher: watcher })
}
