//! libsvm (`label idx:val …`) and libffm (`label field:idx:val …`) files.
//!
//! Both may carry `qid:N` (read as the sample's group) and a `# comment` at the end of a
//! line; blank lines are skipped. A label below zero (libsvm's `-1`) is read as 0. A value
//! that is NaN or infinite is missing: it is not among the sample's features (it never
//! reaches a weight), it is counted in the report, and it is listed in
//! [`SampleSet::missing`], where trees find it to send it down its learned branch. Files
//! are parsed in parallel chunks; any bad line stops the
//! read with the file, the line and what was expected.

use std::io::Write;
use std::path::Path;

use funnel_data::{BadLine, DataError, Location};
use rayon::prelude::*;

use crate::sample::SampleSet;

/// Text formats of labelled sparse samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// `label idx:val …`
    Libsvm,
    /// `label field:idx:val …`
    Libffm,
}

impl TextFormat {
    /// Parses `libsvm` (or `svmlight`) / `libffm` (or `ffm`).
    pub fn from_name(name: &str) -> Option<TextFormat> {
        match name {
            "libsvm" | "svmlight" => Some(TextFormat::Libsvm),
            "libffm" | "ffm" => Some(TextFormat::Libffm),
            _ => None,
        }
    }
    /// `libsvm` / `libffm`.
    pub fn name(self) -> &'static str {
        match self {
            TextFormat::Libsvm => "libsvm",
            TextFormat::Libffm => "libffm",
        }
    }
}

/// What a read saw besides the samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextReport {
    /// Lines in the file, blank ones included.
    pub lines: u64,
    /// Feature values dropped because they were NaN or infinite.
    pub non_finite: u64,
}

/// Reads a libsvm file.
pub fn read_libsvm(path: &Path) -> Result<(SampleSet, TextReport), DataError> {
    read(path, TextFormat::Libsvm)
}

/// Reads a libffm file.
pub fn read_libffm(path: &Path) -> Result<(SampleSet, TextReport), DataError> {
    read(path, TextFormat::Libffm)
}

/// Reads either format.
pub fn read(path: &Path, format: TextFormat) -> Result<(SampleSet, TextReport), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse_bytes(&bytes, path, format)
}

/// The sidecar of a sample file that LightGBM reads its queries from: `FILE.query`, one
/// group size per line, in file order.
pub fn query_sidecar(path: &Path) -> std::path::PathBuf {
    sidecar(path, ".query")
}

/// `path` with `suffix` appended to its name.
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

/// The non-blank lines of a sidecar file, trimmed, each with its location.
fn sidecar_lines(path: &Path) -> Result<Vec<(Location, String)>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let at = Location {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                column: None,
            };
            (at, l.trim().to_string())
        })
        .collect())
}

/// Sets `samples`' groups from the sizes in `sidecar` (see [`query_sidecar`]): query `q`
/// is the next `size` samples. A size that is not a positive integer is refused naming
/// its line; sizes that do not add up to the samples, naming where they part.
pub fn apply_query_sizes(samples: &mut SampleSet, sidecar: &Path) -> Result<usize, DataError> {
    let n = samples.len();
    let mut groups = Vec::with_capacity(n);
    let mut queries = 0u32;
    for (at, t) in sidecar_lines(sidecar)? {
        let size: usize = match t.parse() {
            Ok(s) if s > 0 => s,
            _ => {
                return Err(DataError::Parse {
                    at,
                    kind: BadLine::NotANumber,
                    message: format!("`{t}`: expected a group size, a positive integer"),
                })
            }
        };
        if groups.len() + size > n {
            return Err(DataError::Parse {
                at,
                kind: BadLine::ColumnCount,
                message: format!(
                    "group sizes reach {} here, but the sample file has {n} samples",
                    groups.len() + size
                ),
            });
        }
        groups.extend(std::iter::repeat_n(queries, size));
        queries += 1;
    }
    if groups.len() != n {
        return Err(DataError::Invalid(format!(
            "{}: group sizes add up to {}, but the sample file has {n} samples",
            sidecar.display(),
            groups.len()
        )));
    }
    samples.groups = groups;
    Ok(queries as usize)
}

/// The sidecar of a sample file with the display position of each sample: `FILE.position`,
/// one per line (1 = top), as LightGBM reads it.
pub fn position_sidecar(path: &Path) -> std::path::PathBuf {
    sidecar(path, ".position")
}

/// Sets `samples`' display positions from `sidecar` (see [`position_sidecar`]), one per
/// sample in order; blank lines are skipped as in the sample file. A position that is not
/// a whole number of at least 1 is refused naming its line; a count that differs from the
/// samples', naming the file and both counts.
pub fn apply_positions(samples: &mut SampleSet, sidecar: &Path) -> Result<(), DataError> {
    let n = samples.len();
    let mut positions = Vec::with_capacity(n);
    for (at, t) in sidecar_lines(sidecar)? {
        match t.parse::<u32>() {
            Ok(p) if p >= 1 => positions.push(p),
            _ => {
                return Err(DataError::Parse {
                    at,
                    kind: BadLine::NotANumber,
                    message: format!(
                        "`{t}`: expected a display position, a whole number >= 1 (1 = top)"
                    ),
                })
            }
        }
        if positions.len() > n {
            return Err(DataError::Parse {
                at,
                kind: BadLine::ColumnCount,
                message: format!(
                    "a position for sample {}, but the sample file has {n} samples",
                    positions.len()
                ),
            });
        }
    }
    if positions.len() != n {
        return Err(DataError::Invalid(format!(
            "{}: {} positions, but the sample file has {n} samples (one position per sample)",
            sidecar.display(),
            positions.len()
        )));
    }
    samples.positions = positions;
    Ok(())
}

/// Parses file contents already in memory (`path` only names it in errors).
pub fn parse_bytes(
    bytes: &[u8],
    path: &Path,
    format: TextFormat,
) -> Result<(SampleSet, TextReport), DataError> {
    let mut groups = None;
    let (out, report) = parse_block(bytes, 1, path, format, &mut groups)?;
    if out.is_empty() {
        return Err(DataError::Empty(path.to_path_buf()));
    }
    Ok((out, report))
}

/// Parses whole lines starting at line `first_line`, in parallel chunks of ~1 MB.
/// `groups` remembers whether earlier lines had `qid:` (all lines must agree).
fn parse_block(
    bytes: &[u8],
    first_line: u64,
    path: &Path,
    format: TextFormat,
    groups: &mut Option<bool>,
) -> Result<(SampleSet, TextReport), DataError> {
    const CHUNK: usize = 1 << 20;
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + CHUNK).min(bytes.len());
        if end < bytes.len() {
            end = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |p| end + p + 1);
        }
        chunks.push(&bytes[start..end]);
        start = end;
    }
    let line_counts: Vec<u64> = chunks
        .par_iter()
        .map(|c| memchr::memchr_iter(b'\n', c).count() as u64)
        .collect();
    let mut firsts = Vec::with_capacity(chunks.len());
    let mut acc = first_line;
    for c in &line_counts {
        firsts.push(acc);
        acc += c;
    }
    let parts: Vec<Result<(SampleSet, u64), DataError>> = chunks
        .par_iter()
        .zip(&firsts)
        .map(|(c, &l)| parse_chunk(c, l, path, format))
        .collect();
    let mut out = SampleSet::new();
    let mut report = TextReport {
        lines: line_counts.iter().sum::<u64>()
            + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n")),
        non_finite: 0,
    };
    for (i, p) in parts.into_iter().enumerate() {
        let (s, bad) = p?;
        report.non_finite += bad;
        if s.is_empty() {
            continue;
        }
        let has = !s.groups.is_empty();
        if *groups.get_or_insert(has) != has || (has && s.groups.len() != s.len()) {
            return Err(DataError::Invalid(format!(
                "{}: some lines near line {} have `qid:` and others do not; give it on every line or none",
                path.display(),
                firsts[i]
            )));
        }
        if out.is_empty() {
            out = s; // the common case of one chunk: no copy
        } else {
            out.extend(&s);
        }
    }
    Ok((out, report))
}

/// Reads a file once, in blocks of about `block_bytes`, handing each block's samples to
/// `sink` in file order while the next block is read and parsed on the other threads.
/// Memory stays at about two blocks whatever the file's size: this is how a one-pass
/// learner (FTRL) trains on a file larger than memory. Errors name file and line as
/// [`read`] does.
pub fn stream<E: From<DataError> + Send>(
    path: &Path,
    format: TextFormat,
    block_bytes: usize,
    mut sink: impl FnMut(&SampleSet) -> Result<(), E> + Send,
) -> Result<TextReport, E> {
    use std::io::Read;
    let io = |e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let block_bytes = block_bytes.max(1 << 16);
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1u64;
    let mut groups = None;
    // Reads the next block of whole lines and parses it.
    let mut next = |carry: &mut Vec<u8>,
                    line: &mut u64,
                    groups: &mut Option<bool>|
     -> Result<Option<(SampleSet, TextReport)>, DataError> {
        let mut buf = std::mem::take(carry);
        let have = buf.len();
        buf.resize(have + block_bytes, 0);
        let mut filled = have;
        while filled < buf.len() {
            let n = file.read(&mut buf[filled..]).map_err(io)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        if buf.is_empty() {
            return Ok(None);
        }
        let eof = filled < have + block_bytes;
        if !eof {
            match memchr::memrchr(b'\n', &buf) {
                Some(p) => *carry = buf.split_off(p + 1),
                None => {
                    // One line longer than a block: keep reading it.
                    *carry = buf;
                    return Ok(Some((SampleSet::new(), TextReport::default())));
                }
            }
        }
        let parsed = parse_block(&buf, *line, path, format, groups)?;
        *line += parsed.1.lines;
        Ok(Some(parsed))
    };
    let mut report = TextReport::default();
    let mut samples = 0usize;
    let mut current = next(&mut carry, &mut line, &mut groups)?;
    while let Some((set, r)) = current.take() {
        report.lines += r.lines;
        report.non_finite += r.non_finite;
        samples += set.len();
        let (parsed, consumed) = rayon::join(
            || next(&mut carry, &mut line, &mut groups),
            || if set.is_empty() { Ok(()) } else { sink(&set) },
        );
        consumed?;
        current = parsed?;
    }
    if samples == 0 {
        return Err(DataError::Empty(path.to_path_buf()).into());
    }
    Ok(report)
}

fn parse_chunk(
    chunk: &[u8],
    first_line: u64,
    path: &Path,
    format: TextFormat,
) -> Result<(SampleSet, u64), DataError> {
    let mut out = SampleSet::new();
    let mut non_finite = 0u64;
    let mut feats: Vec<(u32, u32, f32)> = Vec::new();
    let mut missing: Vec<u32> = Vec::new();
    for (k, raw) in chunk.split(|&b| b == b'\n').enumerate() {
        let line_no = first_line + k as u64;
        if let Some((label, n_bad)) = fast_line(raw, format, &mut feats, &mut missing) {
            non_finite += n_bad;
            out.push(label, None, &feats);
            let row = out.len() as u32 - 1;
            out.missing.extend(missing.iter().map(|&f| (row, f)));
            continue;
        }
        let mut line = raw;
        if let Some(p) = memchr::memchr(b'#', line) {
            line = &line[..p];
        }
        let err = |column: usize, kind: BadLine, message: String| DataError::Parse {
            at: Location {
                path: path.to_path_buf(),
                line: line_no,
                column: Some(column),
            },
            kind,
            message,
        };
        let mut tokens = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|t| !t.is_empty());
        let Some(label_tok) = tokens.next() else {
            continue; // blank line
        };
        let label: f32 = parse_float(label_tok).ok_or_else(|| {
            err(
                1,
                BadLine::NotANumber,
                format!("label `{}` is not a number", show(label_tok)),
            )
        })?;
        if !label.is_finite() {
            return Err(err(
                1,
                BadLine::NotANumber,
                format!("label `{}` is not finite", show(label_tok)),
            ));
        }
        feats.clear();
        missing.clear();
        let mut group = None;
        for (j, tok) in tokens.enumerate() {
            let col = j + 2;
            if let Some(q) = tok.strip_prefix(b"qid:") {
                group = Some(parse_u32(q).ok_or_else(|| {
                    err(
                        col,
                        BadLine::NotANumber,
                        format!("`{}`: expected qid:<non-negative integer>", show(tok)),
                    )
                })?);
                continue;
            }
            let expected = match format {
                TextFormat::Libsvm => "index:value",
                TextFormat::Libffm => "field:index:value",
            };
            let bad = |what: &str| {
                err(
                    col,
                    BadLine::ColumnCount,
                    format!("`{}`: expected {expected} ({what})", show(tok),),
                )
            };
            let mut parts = tok.splitn(3, |&b| b == b':');
            let (field, index, value) = match format {
                TextFormat::Libsvm => {
                    let i = parts.next().unwrap_or_default();
                    let v = parts.next().ok_or_else(|| bad("no `:`"))?;
                    if parts.next().is_some() {
                        return Err(bad("too many `:`; is this a libffm file?"));
                    }
                    (0, i, v)
                }
                TextFormat::Libffm => {
                    let f = parts.next().unwrap_or_default();
                    let i = parts.next().ok_or_else(|| bad("no `:`"))?;
                    let v = parts
                        .next()
                        .ok_or_else(|| bad("one `:`; is this a libsvm file?"))?;
                    let f = parse_u32(f).ok_or_else(|| {
                        err(
                            col,
                            BadLine::NotANumber,
                            format!("`{}`: field is not a non-negative integer", show(tok)),
                        )
                    })?;
                    (f, i, v)
                }
            };
            let index = parse_u32(index).ok_or_else(|| {
                err(
                    col,
                    BadLine::NotANumber,
                    format!("`{}`: index is not a non-negative integer", show(tok)),
                )
            })?;
            let value = parse_float(value).ok_or_else(|| {
                err(
                    col,
                    BadLine::NotANumber,
                    format!("`{}`: value is not a number", show(tok)),
                )
            })?;
            if !value.is_finite() {
                non_finite += 1;
                missing.push(index);
                continue;
            }
            feats.push((field, index, value));
        }
        out.push(label.max(0.0), group, &feats);
        let row = out.len() as u32 - 1;
        out.missing.extend(missing.iter().map(|&f| (row, f)));
    }
    Ok((out, non_finite))
}

/// The common line — a plain label, then `idx:val` (or `field:idx:val`) tokens split by
/// single spaces or tabs, no `qid:`, no comment — parsed in one pass. Anything else
/// returns `None` and goes through the careful parser, which names what is wrong.
#[inline]
fn fast_line(
    line: &[u8],
    format: TextFormat,
    feats: &mut Vec<(u32, u32, f32)>,
    missing: &mut Vec<u32>,
) -> Option<(f32, u64)> {
    feats.clear();
    missing.clear();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut pos = memchr::memchr2(b' ', b'\t', line).unwrap_or(line.len());
    let label = parse_float(&line[..pos])?;
    if !label.is_finite() {
        return None;
    }
    let mut non_finite = 0;
    let n = line.len();
    while pos < n {
        pos += 1; // the separator
        if pos >= n {
            break; // a trailing separator
        }
        let num = |pos: &mut usize, stop: u8| -> Option<u32> {
            let start = *pos;
            let mut v: u64 = 0;
            while *pos < n && line[*pos] != stop {
                let d = line[*pos].wrapping_sub(b'0');
                if d > 9 || *pos - start >= 10 {
                    return None;
                }
                v = v * 10 + d as u64;
                *pos += 1;
            }
            if *pos == start || *pos >= n {
                return None;
            }
            *pos += 1; // the `:`
            u32::try_from(v).ok()
        };
        let field = match format {
            TextFormat::Libsvm => 0,
            TextFormat::Libffm => num(&mut pos, b':')?,
        };
        let index = num(&mut pos, b':')?;
        let start = pos;
        while pos < n && line[pos] != b' ' && line[pos] != b'\t' {
            pos += 1;
        }
        let value = parse_float(&line[start..pos])?;
        if value.is_finite() {
            feats.push((field, index, value));
        } else {
            non_finite += 1;
            missing.push(index);
        }
    }
    Some((label.max(0.0), non_finite))
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

#[inline]
fn parse_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    u32::try_from(v).ok()
}

#[inline]
fn parse_float(b: &[u8]) -> Option<f32> {
    // The common one-hot case without the general parser.
    match b {
        b"1" | b"+1" | b"1.0" => return Some(1.0),
        b"0" | b"0.0" => return Some(0.0),
        b"-1" => return Some(-1.0),
        _ => {}
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Writes samples as libsvm (fields are dropped) or libffm; `qid:` is written when the
/// set has groups. Values are written in the shortest form that reads back bit-identical.
pub fn write_text(path: &Path, samples: &SampleSet, format: TextFormat) -> Result<(), DataError> {
    let io = |e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let f = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    for i in 0..samples.len() {
        let r = samples.row(i);
        write!(w, "{}", r.label).map_err(io)?;
        if !samples.groups.is_empty() {
            write!(w, " qid:{}", samples.groups[i]).map_err(io)?;
        }
        for k in 0..r.indices.len() {
            match format {
                TextFormat::Libsvm => write!(w, " {}:{}", r.indices[k], r.values[k]),
                TextFormat::Libffm => {
                    write!(w, " {}:{}:{}", r.fields[k], r.indices[k], r.values[k])
                }
            }
            .map_err(io)?;
        }
        writeln!(w).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// [`write_text`] as libsvm.
pub fn write_libsvm(path: &Path, samples: &SampleSet) -> Result<(), DataError> {
    write_text(path, samples, TextFormat::Libsvm)
}

/// [`write_text`] as libffm.
pub fn write_libffm(path: &Path, samples: &SampleSet) -> Result<(), DataError> {
    write_text(path, samples, TextFormat::Libffm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.query` sidecar groups consecutive samples; sizes that are not positive
    /// integers, or that do not add up to the samples, are refused naming the file and line.
    #[test]
    fn query_sizes_group_samples_or_are_refused_where_they_go_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("rank.train");
        std::fs::write(&data, "1 1:1\n0 1:2\n2 2:1\n0 1:1\n1 2:3\n").unwrap();
        let sidecar = query_sidecar(&data);
        assert_eq!(sidecar, dir.path().join("rank.train.query"));
        let (mut s, _) = read(&data, TextFormat::Libsvm).unwrap();
        std::fs::write(&sidecar, "2\n\n3\n").unwrap();
        assert_eq!(apply_query_sizes(&mut s, &sidecar).unwrap(), 2);
        assert_eq!(s.groups, [0, 0, 1, 1, 1]);
        assert_eq!(s.labels[2], 2.0);
        for (text, want) in [
            ("2\nx\n", "rank.train.query:2"),
            ("2\n0\n3\n", "rank.train.query:2"),
            ("2\n2\n2\n", "rank.train.query:3"),
            ("2\n2\n", "add up to 4"),
        ] {
            std::fs::write(&sidecar, text).unwrap();
            let e = apply_query_sizes(&mut s, &sidecar).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("rank.train.query"),
                "{text:?}: {e}"
            );
        }
    }

    /// A `.position` sidecar gives each sample its display position; positions below 1,
    /// not numbers, or more or fewer than the samples are refused naming the file (and line).
    #[test]
    fn positions_are_read_or_refused_where_they_go_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("clicks.train");
        std::fs::write(&data, "1 1:1\n0 1:2\n0 2:1\n").unwrap();
        let sidecar = position_sidecar(&data);
        assert_eq!(sidecar, dir.path().join("clicks.train.position"));
        let (mut s, _) = read(&data, TextFormat::Libsvm).unwrap();
        std::fs::write(&sidecar, "1\n2\n\n3\n").unwrap();
        apply_positions(&mut s, &sidecar).unwrap();
        assert_eq!(s.positions, [1, 2, 3]);
        for (text, want) in [
            ("1\n0\n3\n", "clicks.train.position:2"),
            ("1\n2\n-3\n", "clicks.train.position:3"),
            ("1\nfirst\n3\n", "clicks.train.position:2"),
            ("1\n2\n3\n4\n", "clicks.train.position:4"),
            ("1\n2\n", "2 positions, but the sample file has 3"),
        ] {
            std::fs::write(&sidecar, text).unwrap();
            let e = apply_positions(&mut s, &sidecar).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    fn parse(text: &str, f: TextFormat) -> Result<(SampleSet, TextReport), DataError> {
        parse_bytes(text.as_bytes(), Path::new("t.txt"), f)
    }

    #[test]
    fn reads_both_formats_with_comments_qid_and_blank_lines() {
        let (s, r) = parse("1 3:1 7:0.5 # c\n\n-1 2:2\n", TextFormat::Libsvm).unwrap();
        assert_eq!(s.labels, vec![1.0, 0.0]);
        assert_eq!(s.indices, vec![3, 7, 2]);
        assert_eq!(s.values, vec![1.0, 0.5, 2.0]);
        assert_eq!((s.n_features, s.n_fields, r.lines), (8, 1, 3));
        let (s, _) = parse("0 qid:4 1:5:1 2:6:1\n1 qid:5 0:1:1", TextFormat::Libffm).unwrap();
        assert_eq!(s.groups, vec![4, 5]);
        assert_eq!(s.fields, vec![1, 2, 0]);
        assert_eq!(s.n_fields, 3);
    }

    #[test]
    fn bad_lines_name_line_and_column() {
        let e = parse("1 3:1\n1 3:x\n", TextFormat::Libsvm)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.txt:2, column 2") && e.contains("value is not a number"),
            "{e}"
        );
        let e = parse("1 3:1\nyes 3:1\n", TextFormat::Libsvm)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.txt:2, column 1") && e.contains("label `yes`"),
            "{e}"
        );
        let e = parse("1 3:1\n", TextFormat::Libffm)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is this a libsvm file?"), "{e}");
        let e = parse("1 0:3:1\n", TextFormat::Libsvm)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is this a libffm file?"), "{e}");
        let e = parse("1 -3:1\n", TextFormat::Libsvm)
            .unwrap_err()
            .to_string();
        assert!(e.contains("index is not a non-negative integer"), "{e}");
        let e = parse("\n\n", TextFormat::Libsvm).unwrap_err().to_string();
        assert!(e.contains("no events"), "{e}");
        let e = parse("1 qid:1 3:1\n0 3:1\n", TextFormat::Libsvm)
            .unwrap_err()
            .to_string();
        assert!(e.contains("qid"), "{e}");
    }

    #[test]
    fn non_finite_values_are_dropped_counted_and_listed_as_missing() {
        let (s, r) = parse("1 1:nan 2:inf 3:1\n0 1:-inf\n", TextFormat::Libsvm).unwrap();
        assert_eq!(r.non_finite, 3);
        assert_eq!(s.indices, vec![3]);
        assert!(s.values.iter().all(|v| v.is_finite()));
        assert_eq!(s.missing, vec![(0, 1), (0, 2), (1, 1)]);
        // The careful parser (a comment sends the line there) lists them too.
        let (s, _) = parse("1 3:1 1:nan # c\n", TextFormat::Libsvm).unwrap();
        assert_eq!(s.missing, vec![(0, 1)]);
    }

    #[test]
    fn line_numbers_survive_parallel_chunks() {
        let mut text = String::new();
        for i in 0..200_000 {
            text.push_str(&format!("{} {}:1 {}:0.25\n", i % 2, i % 1000, 1000 + i % 7));
        }
        text.push_str("1 5:oops\n");
        let e = parse(&text, TextFormat::Libsvm).unwrap_err().to_string();
        assert!(e.contains("t.txt:200001, column 2"), "{e}");
    }

    #[test]
    fn missing_values_keep_their_samples_across_parallel_chunks() {
        let mut text = String::new();
        for i in 0..200_000 {
            let v = if i % 1000 == 7 { "nan" } else { "1" };
            text.push_str(&format!("{} 3:{v} 4:1\n", i % 2));
        }
        let (s, r) = parse(&text, TextFormat::Libsvm).unwrap();
        assert_eq!(r.non_finite, 200);
        let want: Vec<(u32, u32)> = (0..200).map(|k| (k * 1000 + 7, 3)).collect();
        assert_eq!(s.missing, want);
    }

    #[test]
    fn streaming_in_small_blocks_gives_the_same_samples_and_line_numbers() {
        let mut text = String::new();
        for i in 0..30_000 {
            text.push_str(&format!("{} {}:1 {}:0.5\n", i % 2, i % 97, 100 + i % 13));
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.svm");
        std::fs::write(&p, &text).unwrap();
        let (whole, _) = read_libsvm(&p).unwrap();
        let mut joined = SampleSet::new();
        let mut blocks = 0;
        let report = stream::<DataError>(&p, TextFormat::Libsvm, 1 << 16, |s| {
            joined.extend(s);
            blocks += 1;
            Ok(())
        })
        .unwrap();
        assert!(blocks > 5, "{blocks} blocks");
        assert_eq!(joined, whole);
        assert_eq!(report.lines, 30_000);
        text.push_str("1 5:x\n");
        std::fs::write(&p, &text).unwrap();
        let e = stream::<DataError>(&p, TextFormat::Libsvm, 1 << 16, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.svm:30001, column 2"), "{e}");
    }

    #[test]
    fn write_then_read_is_identical() {
        let mut s = SampleSet::new();
        s.push(1.0, Some(3), &[(0, 4, 0.1), (2, 9, 1.0 / 3.0)]);
        s.push(0.0, Some(1), &[(1, 0, 1e-7)]);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.ffm");
        write_libffm(&p, &s).unwrap();
        let (back, _) = read_libffm(&p).unwrap();
        assert_eq!(back, s);
    }
}
