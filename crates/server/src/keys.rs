//! The API key: where it comes from, how it is written, how requests present it, and
//! which routes need it.
//!
//! The key is the configured `server.api_key`, or the one in `DATA_DIR/api-key`, created
//! on first start with 32 random hex digits, mode 0600, written to a temporary file,
//! synced and renamed into place (a crash leaves the old state or the whole key, never an
//! empty file). An empty key is never accepted: an empty or blank key file stops the
//! start, rather than turning authentication off.
//!
//! Requests present it as `X-API-Key: KEY` or `Authorization: Bearer KEY` (what
//! Prometheus sends for `authorization: {credentials: KEY}`); it is compared in constant
//! time.

use std::io::Write;
use std::path::Path;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use funnel_engine::Config;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::{AppState, StartError};

/// The key: the configured one, or the one saved in `DATA_DIR/api-key` (created here on
/// first start).
pub fn load_or_create(config: &Config) -> Result<String, StartError> {
    let configured = config.server.api_key.trim();
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let path = config.server.data_dir.join("api-key");
    let io = |e: std::io::Error| StartError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim();
            if key.is_empty() {
                return Err(StartError::Io {
                    path: path.display().to_string(),
                    message: "the API key file is empty; put a key in it, set server.api_key, \
                              or delete the file to have a new key generated"
                        .into(),
                });
            }
            Ok(key.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::Rng;
            let key: String = (0..32)
                .map(|_| format!("{:x}", rand::rng().random_range(0..16u8)))
                .collect();
            write_atomically(&path, format!("{key}\n").as_bytes()).map_err(io)?;
            tracing::info!("a new API key is in {}", path.display());
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes `bytes` to `path` through a synced temporary file (mode 0600) and a rename,
/// then syncs the directory, so the file is either absent or whole after a crash.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Whether `given` is the key, in time that does not depend on where they differ.
pub fn matches(key: &[u8], given: &[u8]) -> bool {
    // ConstantTimeEq on slices returns early only on a length difference, which tells an
    // attacker the key's length at most (generated keys are always 32 digits).
    !key.is_empty() && bool::from(key.ct_eq(given))
}

/// The key a request presents, if any.
fn presented(parts: &Parts) -> Option<&[u8]> {
    if let Some(k) = parts.headers.get("x-api-key") {
        return Some(k.as_bytes());
    }
    let auth = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let v = auth.as_bytes();
    let scheme = b"bearer ";
    (v.len() > scheme.len() && v[..scheme.len()].eq_ignore_ascii_case(scheme))
        .then(|| v[scheme.len()..].trim_ascii())
}

/// Checks that the request carries the key.
pub fn check(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    let unauthorized = |message: &str| ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.into(),
    };
    match presented(parts) {
        Some(k) if matches(state.api_key.as_bytes(), k) => Ok(()),
        Some(_) => Err(unauthorized(
            "the API key (X-API-Key or Authorization: Bearer) does not match the server's key",
        )),
        None => Err(unauthorized(
            "this route needs the API key: the X-API-Key header or Authorization: Bearer KEY",
        )),
    }
}

/// Present on write handlers: the request carries the key.
pub struct WriteKey;
/// Present on recommendation reads: the key is there, or `server.open_reads`.
pub struct ReadKey;
/// Present on reads of personal data (user records, feedback histories): the key is
/// there, or `server.open_user_data`.
pub struct UserDataKey;
/// Present on admin reads (trainer status, model versions, `/metrics`): the key is there,
/// or `server.open_admin`.
pub struct AdminKey;

macro_rules! key_extractor {
    ($name:ident, $open:expr) => {
        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;
            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                let open: fn(&Config) -> bool = $open;
                if open(state.engine.config()) {
                    Ok($name)
                } else {
                    check(parts, state).map(|_| $name)
                }
            }
        }
    };
}

key_extractor!(WriteKey, |_| false);
key_extractor!(ReadKey, |c| c.server.open_reads);
key_extractor!(UserDataKey, |c| c.server.open_user_data);
key_extractor!(AdminKey, |c| c.server.open_admin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_exact_and_never_accepts_an_empty_key() {
        assert!(matches(b"secret", b"secret"));
        assert!(!matches(b"secret", b"secreT"));
        assert!(!matches(b"secret", b"secret "));
        assert!(!matches(b"secret", b""));
        assert!(!matches(b"", b""));
    }

    /// A guess wrong in its first byte and one wrong in its last take the same time. A
    /// plain `==` (memcmp) stops at the first difference: over a 1 MiB key the two differ
    /// by three orders of magnitude, far above what scheduling noise can produce.
    #[test]
    fn comparison_time_does_not_depend_on_where_the_guess_differs() {
        let key = vec![b'k'; 1 << 20];
        let mut early = key.clone();
        early[0] = b'x';
        let mut late = key.clone();
        *late.last_mut().unwrap() = b'x';
        let time = |guess: &[u8]| {
            let mut runs: Vec<f64> = (0..15)
                .map(|_| {
                    let t = std::time::Instant::now();
                    assert!(!matches(
                        std::hint::black_box(&key),
                        std::hint::black_box(guess)
                    ));
                    t.elapsed().as_secs_f64()
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[runs.len() / 2]
        };
        let (e, l) = (time(&early), time(&late));
        let ratio = l.max(e) / l.min(e);
        assert!(
            ratio < 4.0,
            "early {e:.2e} s, late {l:.2e} s: ratio {ratio:.1}"
        );
    }

    #[test]
    fn the_key_file_is_written_whole_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.server.data_dir = dir.path().to_path_buf();
        let key = load_or_create(&c).unwrap();
        assert_eq!(key.len(), 32);
        let path = dir.path().join("api-key");
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), key);
        assert!(!dir.path().join("api-key.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // read back on the next start
        assert_eq!(load_or_create(&c).unwrap(), key);
        // an empty or blank file stops the start, naming the file
        for text in ["", " \n"] {
            std::fs::write(&path, text).unwrap();
            let e = load_or_create(&c).unwrap_err().to_string();
            assert!(e.contains("api-key") && e.contains("empty"), "{e}");
        }
    }
}
