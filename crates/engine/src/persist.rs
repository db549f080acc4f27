//! Model versions on disk, so a restart serves at once what was trained.
//!
//! Each published version is written under `DATA_DIR/models/vN/`: one funnel-model file
//! per model (`itemknn.funnel`, `ials.funnel`, `ranker.funnel` — the `RankModel` bundle
//! `funnel rank train` writes too), the HNSW index (`ials.hnsw`), and `version.json` (the
//! version's info and metrics). A version is written into a temporary directory, every
//! file synced, then renamed into place, so a crash leaves it whole or absent. The active
//! version's number is in `models/ACTIVE`, replaced the same way. At start-up the newest
//! `train.keep_versions` versions that load are kept for rollback and the active one
//! serves; a version whose files do not load is skipped, and the log names the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use funnel_ann::Index;
use funnel_rank::RankModel;
use funnel_recall::{Ials, ItemKnn, ModelReader, Recaller};

use crate::catalog::Catalog;
use crate::models::{MfChannel, ModelSet, RecallModels, VersionInfo};
use crate::EngineError;

const ACTIVE: &str = "ACTIVE";

/// The files a version directory may hold.
pub const FILES: &[&str] = &[
    "version.json",
    "itemknn.funnel",
    "ials.funnel",
    "ials.hnsw",
    "ranker.funnel",
];

fn io(path: &Path) -> impl Fn(std::io::Error) -> EngineError + '_ {
    move |e| EngineError::Train(format!("{}: {e}", path.display()))
}

fn failed(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::Train(format!("{}: {e}", path.display()))
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
        if let Some(knn) = &r.itemknn {
            let p = tmp.join("itemknn.funnel");
            knn.save(&p).map_err(|e| failed(&p, e))?;
            files.push(p);
        }
        if let Some(mf) = &r.mf {
            let p = tmp.join("ials.funnel");
            mf.ials.save(&p).map_err(|e| failed(&p, e))?;
            files.push(p);
            let p = tmp.join("ials.hnsw");
            mf.index.save(&p).map_err(|e| failed(&p, e))?;
            files.push(p);
        }
    }
    if let Some(r) = &set.ranker {
        let p = tmp.join("ranker.funnel");
        r.read()
            .expect("ranker lock")
            .save(&p)
            .map_err(|e| failed(&p, e))?;
        files.push(p);
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
    let itemknn = match file("itemknn.funnel") {
        p if p.exists() => Some(
            ModelReader::open(&p)
                .map_err(|e| failed(&p, e))
                .and_then(|r| ItemKnn::load(&r).map_err(|e| failed(&p, e)))?,
        ),
        _ => None,
    };
    let mf = match file("ials.funnel") {
        p if p.exists() => {
            let ials = ModelReader::open(&p)
                .map_err(|e| failed(&p, e))
                .and_then(|r| Ials::load(&r).map_err(|e| failed(&p, e)))?;
            let ip = file("ials.hnsw");
            let index = Index::load(&ip).map_err(|e| failed(&ip, e))?;
            if index.len() != ials.item_factors().n {
                return Err(failed(
                    &ip,
                    "indexes another number of items than ials.funnel",
                ));
            }
            let gram = ials.fold_in_gram();
            Some(MfChannel { ials, gram, index })
        }
        _ => None,
    };
    let recall = if itemknn.is_some() || mf.is_some() {
        let cat = std::cell::RefCell::new(catalog);
        Some(RecallModels::new(
            itemknn,
            mf,
            |id| cat.borrow_mut().item_slot(id),
            |id| cat.borrow_mut().user_slot(id),
        )?)
    } else {
        None
    };
    let ranker = match file("ranker.funnel") {
        p if p.exists() => Some(std::sync::RwLock::new(
            RankModel::load(&p).map_err(|e| failed(&p, e))?,
        )),
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
