//! Model versions on disk, so a restart serves at once what was trained.
//!
//! Each published version is written under `DATA_DIR/models/vN/`: one funnel-model file
//! per channel (`CHANNEL.funnel`: `itemknn.funnel` and `mf.funnel` with the default
//! channels) and, for a `vectors` channel, its HNSW index (`CHANNEL.hnsw`); the ranker
//! (`ranker.funnel` — the `RankModel` bundle `funnel rank train` writes too, its fitted
//! feature pipeline inside) with the feature spec it was fitted from (`spec.toml`); and
//! `version.json` (the version's info, metrics and channels). A version is written into a temporary directory, every
//! file synced, then renamed into place, so a crash leaves it whole or absent. The active
//! version's number is in `models/ACTIVE`, replaced the same way. At start-up the newest
//! `train.keep_versions` versions that load are kept for rollback and the active one
//! serves; a version whose files do not load is skipped, and the log names the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use funnel_ann::Index;
use funnel_rank::RankModel;

use crate::catalog::Catalog;
use crate::config::ChannelKind;
use crate::models::{Channel, ModelSet, RecallModels, ServedRanker, VersionInfo};
use crate::EngineError;

const ACTIVE: &str = "ACTIVE";
/// The feature spec a version's ranker was fitted from.
pub const SPEC: &str = "spec.toml";

/// Whether `name` is a file a version directory may hold: `version.json`,
/// `spec.toml`, `ranker.funnel`, `CHANNEL.funnel` or `CHANNEL.hnsw`.
pub fn is_version_file(name: &str) -> bool {
    let channel = |stem: &str| {
        !stem.is_empty()
            && stem.len() <= 64
            && stem
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    name == "version.json"
        || name == SPEC
        || name
            .strip_suffix(".funnel")
            .or_else(|| name.strip_suffix(".hnsw"))
            .is_some_and(channel)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EngineError + '_ {
    move |e| EngineError::ModelFiles(format!("{}: {e}", path.display()))
}

fn failed(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::ModelFiles(format!("{}: {e}", path.display()))
}

/// The directory of version `v`.
pub fn version_dir(root: &Path, v: u64) -> PathBuf {
    root.join(format!("v{v}"))
}

fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

fn sync_file(path: &Path) -> Result<(), EngineError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

/// Writes `set` as `root/vN` (atomically; an existing directory of that number is
/// replaced).
pub fn save(root: &Path, set: &ModelSet) -> Result<(), EngineError> {
    let v = set.info.version;
    std::fs::create_dir_all(root).map_err(io(root))?;
    let tmp = root.join(format!(".v{v}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    let mut files = vec![tmp.join("version.json")];
    let info = serde_json::to_vec_pretty(&set.info).expect("version info serialises");
    std::fs::write(&files[0], info).map_err(io(&files[0]))?;
    if let Some(r) = &set.recall {
        for c in &r.channels {
            let p = tmp.join(format!("{}.funnel", c.name));
            c.model.save(&p).map_err(|e| failed(&p, e))?;
            files.push(p);
            if let Some(index) = &c.index {
                let p = tmp.join(format!("{}.hnsw", c.name));
                index.save(&p).map_err(|e| failed(&p, e))?;
                files.push(p);
            }
        }
    }
    if let Some(r) = &set.ranker {
        let p = tmp.join("ranker.funnel");
        r.model
            .read()
            .expect("ranker lock")
            .save(&p)
            .map_err(|e| failed(&p, e))?;
        files.push(p);
        if let Some(spec) = &r.spec {
            let p = tmp.join(SPEC);
            std::fs::write(&p, spec).map_err(io(&p))?;
            files.push(p);
        }
    }
    for f in &files {
        sync_file(f)?;
    }
    sync_dir(&tmp)?;
    let dir = version_dir(root, v);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
    sync_dir(root)
}

/// Records `v` as the active version.
pub fn set_active(root: &Path, v: u64) -> Result<(), EngineError> {
    std::fs::create_dir_all(root).map_err(io(root))?;
    let tmp = root.join(".ACTIVE.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    writeln!(f, "{v}")
        .and_then(|_| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, root.join(ACTIVE)).map_err(io(root))?;
    sync_dir(root)
}

/// Removes the version directories not in `keep`.
pub fn prune(root: &Path, keep: &[u64]) -> Result<(), EngineError> {
    for v in on_disk(root) {
        if !keep.contains(&v) {
            let d = version_dir(root, v);
            std::fs::remove_dir_all(&d).map_err(io(&d))?;
        }
    }
    Ok(())
}

/// Version numbers with a directory under `root`, oldest first.
fn on_disk(root: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix('v')?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// Reads version `v`; ids the catalogue lacks get deleted placeholders.
fn load(root: &Path, v: u64, catalog: &mut Catalog) -> Result<ModelSet, EngineError> {
    let dir = version_dir(root, v);
    let p = dir.join("version.json");
    let text = std::fs::read(&p).map_err(io(&p))?;
    let info: VersionInfo = serde_json::from_slice(&text).map_err(|e| failed(&p, e))?;
    if info.version != v {
        return Err(failed(
            &p,
            format!("holds version {}, not {v}", info.version),
        ));
    }
    let file = |name: &str| dir.join(name);
    let mut channels = Vec::new();
    for c in &info.channels {
        let p = file(&format!("{}.funnel", c.name));
        let model = funnel_recall::load(&p).map_err(|e| failed(&p, e))?;
        let index = match c.kind {
            ChannelKind::Vectors => {
                let v = model
                    .vectors()
                    .ok_or_else(|| failed(&p, "a vectors channel whose model has no vectors"))?;
                let ip = file(&format!("{}.hnsw", c.name));
                let index = Index::load(&ip).map_err(|e| failed(&ip, e))?;
                if index.len() != v.item_vectors().n {
                    return Err(failed(
                        &ip,
                        "indexes another number of items than its model",
                    ));
                }
                Some(index)
            }
            ChannelKind::User | ChannelKind::ItemToItem => None,
        };
        channels.push(Channel {
            name: crate::pipeline::intern(&c.name),
            kind: c.kind,
            model,
            index,
        });
    }
    let recall = if channels.is_empty() {
        None
    } else {
        let cat = std::cell::RefCell::new(catalog);
        Some(std::sync::Arc::new(RecallModels::new(
            channels,
            |id| cat.borrow_mut().item_slot(id),
            |id| cat.borrow_mut().user_slot(id),
        )?))
    };
    let ranker = match file("ranker.funnel") {
        p if p.exists() => {
            let model = RankModel::load(&p).map_err(|e| failed(&p, e))?;
            let spec = std::fs::read_to_string(file(SPEC)).ok();
            Some(ServedRanker::new(model, spec).map_err(|e| failed(&p, e))?)
        }
        _ => None,
    };
    Ok(ModelSet {
        info,
        recall,
        ranker,
    })
}

/// What [`restore`] found.
pub struct Restored {
    /// Versions that loaded, oldest first (at most `keep`).
    pub sets: Vec<ModelSet>,
    /// The one to serve: `ACTIVE` if it loaded, else the newest.
    pub active: Option<u64>,
    /// The highest version number on disk, loaded or not (new versions go above it).
    pub highest: u64,
}

/// Loads the newest `keep` versions under `root` that load; logs the others.
pub fn restore(root: &Path, keep: usize, catalog: &mut Catalog) -> Restored {
    let all = on_disk(root);
    let highest = all.last().copied().unwrap_or(0);
    let mut sets = Vec::new();
    for &v in all.iter().rev() {
        if sets.len() == keep {
            break;
        }
        match load(root, v, catalog) {
            Ok(s) => sets.push(s),
            Err(e) => tracing::warn!("model version {v} does not load, skipped: {e}"),
        }
    }
    sets.reverse();
    let wanted = std::fs::read_to_string(root.join(ACTIVE))
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
    let active = match wanted {
        Some(v) if sets.iter().any(|s| s.info.version == v) => Some(v),
        _ => {
            let newest = sets.last().map(|s| s.info.version);
            if let (Some(w), Some(n)) = (wanted, newest) {
                tracing::warn!("active model version {w} does not load; serving version {n}");
            }
            newest
        }
    };
    Restored {
        sets,
        active,
        highest,
    }
}
