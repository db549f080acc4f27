//! LightGCN lists: `uid iid iid …`, one user per line, space-separated.

use std::path::Path;

use super::{next_line, open, utf8_message, LineCounter, ReadOptions, ReadReport, Sink};
use crate::error::{BadLine, Result};
use crate::interactions::Event;

pub(super) fn read(
    path: &Path,
    opts: ReadOptions<'_>,
    sink: &mut Sink<'_>,
    on_user: &mut dyn FnMut(&str),
) -> Result<ReadReport> {
    let mut r = open(path)?;
    let mut lc = LineCounter::new(path, opts.lenient);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut bytes = 0u64;
    while next_line(&mut r, &mut buf, path)? {
        line_no += 1;
        bytes += buf.len() as u64 + 1;
        if line_no % 4096 == 0 {
            if let Some(p) = opts.progress {
                p(bytes);
            }
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t,
            Err(e) => {
                lc.report.lines += 1;
                lc.bad(line_no, None, BadLine::Utf8, utf8_message(e))?;
                continue;
            }
        };
        let mut tokens = text.split_ascii_whitespace();
        let Some(user) = tokens.next() else { continue };
        lc.report.lines += 1;
        on_user(user);
        for item in tokens {
            sink(&Event::implicit(user, item))?;
            lc.report.events += 1;
        }
    }
    if lc.report.lines == 0 {
        return Err(crate::error::DataError::Empty(path.to_path_buf()));
    }
    Ok(lc.report)
}
