//! Every reader on small files, and every kind of bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use funnel_data::{load, BadLine, DataError, DataSource, Event, Format, ReadOptions};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

fn events(path: &Path, fmt: &str) -> Vec<(String, String, f32, Option<i64>)> {
    let mut v = Vec::new();
    funnel_data::read::read_events(
        path,
        &Format::from_name(fmt).unwrap(),
        ReadOptions::default(),
        &mut |e: &Event<'_>| {
            v.push((e.user.to_string(), e.item.to_string(), e.value, e.timestamp));
            Ok(())
        },
    )
    .unwrap();
    v
}

fn src(path: &Path, fmt: &str) -> DataSource {
    DataSource {
        path: path.display().to_string(),
        format: fmt.into(),
        ..Default::default()
    }
}

fn expected() -> Vec<(String, String, f32, Option<i64>)> {
    vec![
        ("u1".into(), "i1".into(), 4.0, Some(100)),
        ("u1".into(), "i2".into(), 2.5, Some(200)),
        ("u2".into(), "i1".into(), 5.0, Some(150)),
    ]
}

#[test]
fn csv_tsv_jsonl_recbole_and_movielens_agree() {
    let d = tempfile::tempdir().unwrap();
    let csv = write(
        d.path(),
        "a.csv",
        b"user_id,item_id,rating,timestamp\nu1,i1,4,100\nu1,i2,2.5,200\r\nu2,i1,5,150\n\n",
    );
    assert_eq!(events(&csv, "csv"), expected());
    let tsv = write(
        d.path(),
        "a.tsv",
        b"timestamp\tuser\titem\tscore\n100\tu1\ti1\t4\n200\tu1\ti2\t2.5\n150\tu2\ti1\t5\n",
    );
    assert_eq!(events(&tsv, "tsv"), expected());
    let jl = write(
        d.path(),
        "a.jsonl",
        b"{\"user\":\"u1\",\"item\":\"i1\",\"rating\":4,\"timestamp\":100}\n{\"user\":\"u1\",\"item\":\"i2\",\"rating\":2.5,\"timestamp\":200}\n{\"user\":\"u2\",\"item\":\"i1\",\"rating\":5,\"timestamp\":150.0}\n",
    );
    assert_eq!(events(&jl, "jsonl"), expected());
    let rb = write(d.path(), "x.inter", b"user_id:token\titem_id:token\trating:float\ttimestamp:float\nu1\ti1\t4\t100\nu1\ti2\t2.5\t200\nu2\ti1\t5\t150\n");
    assert_eq!(events(&rb, "recbole"), expected());
    let udata = write(
        d.path(),
        "u.data",
        b"u1\ti1\t4\t100\nu1\ti2\t2.5\t200\nu2\ti1\t5\t150\n",
    );
    assert_eq!(events(&udata, "movielens"), expected());
    let dat = write(
        d.path(),
        "ratings.dat",
        b"u1::i1::4::100\nu1::i2::2.5::200\nu2::i1::5::150\n",
    );
    assert_eq!(events(&dat, "movielens"), expected());
    let ml_csv_dir = tempfile::tempdir().unwrap();
    write(
        ml_csv_dir.path(),
        "ratings.csv",
        b"userId,movieId,rating,timestamp\nu1,i1,4,100\nu1,i2,2.5,200\nu2,i1,5,150\n",
    );
    assert_eq!(events(ml_csv_dir.path(), "movielens"), expected());
}

#[test]
fn column_mapping_and_headerless_input() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.txt", b"100;i1;u1\n200;i2;u1\n");
    let mut s = src(&p, "csv");
    s.no_header = true;
    s.delimiter = Some(";".into());
    s.columns = Some("user=2,item=1,timestamp=0,value=-".into());
    let l = load(&s, ReadOptions::default()).unwrap();
    assert_eq!(
        (l.main.n_users(), l.main.n_items(), l.main.nnz()),
        (1, 2, 2)
    );
    assert_eq!(
        l.main.absolute_time(l.main.user_row(0).times.unwrap()[1]),
        200
    );
    let mut bad = src(&p, "csv");
    bad.columns = Some("usr=1".into());
    assert!(load(&bad, ReadOptions::default())
        .unwrap_err()
        .to_string()
        .contains("expected one of user, item"));
}

#[test]
fn lightgcn_directory_is_a_given_split() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "train.txt", b"0 1 2 3\n1 2\n2\n");
    write(d.path(), "test.txt", b"0 4\n1 3\n");
    let l = load(&src(d.path(), "auto"), ReadOptions::default()).unwrap();
    assert_eq!(l.format, "lightgcn");
    assert_eq!(
        l.main.n_users(),
        3,
        "a user line with no items still makes a user"
    );
    assert_eq!(l.main.nnz(), 4);
    let t = l.test.unwrap();
    assert_eq!(t.nnz(), 2);
    assert_eq!(t.n_items(), 4, "items of both parts share one id map");
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_rows_are_read() {
    use std::sync::Arc;

    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.parquet");
    let schema = Arc::new(
        parse_message_type(
            "message m { REQUIRED BYTE_ARRAY user_id (UTF8); REQUIRED BYTE_ARRAY item_id (UTF8); REQUIRED DOUBLE rating; REQUIRED INT64 timestamp; }",
        )
        .unwrap(),
    );
    let mut w = SerializedFileWriter::new(
        std::fs::File::create(&p).unwrap(),
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut rg = w.next_row_group().unwrap();
    let texts = |v: &[&str]| v.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
    let mut idx = 0;
    while let Some(mut col) = rg.next_column().unwrap() {
        match idx {
            0 => {
                col.typed::<ByteArrayType>()
                    .write_batch(&texts(&["u1", "u1", "u2"]), None, None)
                    .unwrap();
            }
            1 => {
                col.typed::<ByteArrayType>()
                    .write_batch(&texts(&["i1", "i2", "i1"]), None, None)
                    .unwrap();
            }
            2 => {
                col.typed::<DoubleType>()
                    .write_batch(&[4.0, 2.5, 5.0], None, None)
                    .unwrap();
            }
            _ => {
                col.typed::<Int64Type>()
                    .write_batch(&[100, 200, 150], None, None)
                    .unwrap();
            }
        }
        col.close().unwrap();
        idx += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
    assert_eq!(events(&p, "parquet"), expected());
}

fn parse_error(e: DataError) -> (String, u64, Option<usize>, BadLine) {
    match e {
        DataError::Parse { ref at, kind, .. } => (e.to_string(), at.line, at.column, kind),
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn malformed_input_names_file_line_column_and_expectation() {
    let d = tempfile::tempdir().unwrap();
    // Wrong column count.
    let p = write(d.path(), "cols.csv", b"user,item,rating\nu1,i1,4\nu2,i2\n");
    let (msg, line, _, kind) =
        parse_error(load(&src(&p, "csv"), ReadOptions::default()).unwrap_err());
    assert_eq!((line, kind), (3, BadLine::ColumnCount));
    assert!(
        msg.contains("cols.csv:3") && msg.contains("expected 3 fields"),
        "{msg}"
    );
    // Non-numeric rating.
    let p = write(
        d.path(),
        "num.csv",
        b"user,item,rating\nu1,i1,4\nu2,i2,five\n",
    );
    let (msg, line, col, kind) =
        parse_error(load(&src(&p, "csv"), ReadOptions::default()).unwrap_err());
    assert_eq!((line, col, kind), (3, Some(3), BadLine::NotANumber));
    assert!(
        msg.contains("num.csv:3, column 3")
            && msg.contains("expected a number")
            && msg.contains("`five`"),
        "{msg}"
    );
    // Invalid UTF-8.
    let p = write(d.path(), "utf.csv", b"user,item\nu1,i1\nu\xff2,i2\n");
    let (msg, line, _, kind) =
        parse_error(load(&src(&p, "csv"), ReadOptions::default()).unwrap_err());
    assert_eq!((line, kind), (3, BadLine::Utf8));
    assert!(
        msg.contains("utf.csv:3") && msg.contains("invalid UTF-8 at byte 2"),
        "{msg}"
    );
    // Empty file, and a header with nothing under it.
    let p = write(d.path(), "empty.csv", b"");
    let e = load(&src(&p, "csv"), ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("empty.csv") && e.contains("holds no events"),
        "{e}"
    );
    let p = write(d.path(), "header.csv", b"user,item\n");
    assert!(load(&src(&p, "csv"), ReadOptions::default())
        .unwrap_err()
        .to_string()
        .contains("holds no events"));
    // Unknown format.
    let e = load(&src(&p, "xlsx"), ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown format `xlsx`") && e.contains("csv, tsv, jsonl"),
        "{e}"
    );
    // Bad JSON.
    let p = write(
        d.path(),
        "bad.jsonl",
        b"{\"user\":\"a\",\"item\":\"b\"}\n{\"user\": oops}\n",
    );
    let (msg, line, _, kind) =
        parse_error(load(&src(&p, "jsonl"), ReadOptions::default()).unwrap_err());
    assert_eq!((line, kind), (2, BadLine::Json));
    assert!(msg.contains("bad.jsonl:2"), "{msg}");
    // A missing file.
    let e = load(
        &src(&d.path().join("nope.csv"), "csv"),
        ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nope.csv"), "{e}");
}

#[test]
fn lenient_skips_and_counts_by_reason() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "mixed.csv",
        b"user,item,rating\nu1,i1,4\nu2,i2\nu3,i3,x\nu4,i4,1\nu\xff,i5,2\n,i6,3\n",
    );
    let l = load(
        &src(&p, "csv"),
        ReadOptions {
            lenient: true,
            progress: None,
        },
    )
    .unwrap();
    assert_eq!(l.main.nnz(), 2);
    assert_eq!(l.report.lines, 6);
    let s = &l.report.skipped;
    assert_eq!(s[&BadLine::ColumnCount], 1);
    assert_eq!(s[&BadLine::NotANumber], 1);
    assert_eq!(s[&BadLine::Utf8], 1);
    assert_eq!(s[&BadLine::EmptyId], 1);
    assert_eq!(
        l.report.skipped_total() + l.report.events,
        l.report.lines,
        "every line is accounted for"
    );
    assert!(l.report.examples[0].contains("mixed.csv:3"));
}

#[test]
fn filters_by_value_and_kind_are_counted() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "k.csv",
        b"user,item,rating,type\nu1,i1,5,click\nu1,i2,2,click\nu2,i1,4,view\n",
    );
    let mut s = src(&p, "csv");
    s.min_value = Some(4.0);
    s.kinds = Some(vec!["click".into()]);
    let l = load(&s, ReadOptions::default()).unwrap();
    assert_eq!((l.main.nnz(), l.filtered), (1, 2));
}

#[test]
fn matrices_stay_within_12_bytes_per_interaction() {
    let l = load(
        &DataSource {
            path: "synthetic:users=500,items=300,interactions=20000".into(),
            format: "synthetic".into(),
            ..Default::default()
        },
        ReadOptions::default(),
    )
    .unwrap();
    let m = l.main.csr();
    assert_eq!(m.nnz(), 20000);
    assert!(
        m.memory_bytes() <= 12 * m.nnz() + 8 * (m.n_rows() + 1),
        "{} bytes",
        m.memory_bytes()
    );
    let csc = l.main.csc();
    assert_eq!(csc.nnz(), m.nnz());
    // CSC is the exact transpose.
    for u in 0..m.n_rows() {
        for &i in m.row(u).indices {
            assert!(csc
                .row(i as usize)
                .indices
                .binary_search(&(u as u32))
                .is_ok());
        }
    }
    assert!(
        l.users.is_some() && l.items.is_some(),
        "synthetic data carries side features"
    );
}

#[test]
fn recbole_side_files_give_typed_attributes() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "x.inter",
        b"user_id:token\titem_id:token\trating:float\tdatetime:float\nu1\ti1\t4\t100\n",
    );
    write(
        d.path(),
        "x.user",
        b"user_id:token\tage:float\tgender:token\nu1\t24\tM\n",
    );
    write(
        d.path(),
        "x.item",
        b"item_id:token\tmovie_title:token_seq\tclass:token_seq\ni1\tToy Story\tAnimation Comedy\n",
    );
    let l = load(&src(d.path(), "recbole"), ReadOptions::default()).unwrap();
    let users = l.users.unwrap();
    assert_eq!(
        users.get("u1").unwrap(),
        &[
            funnel_data::AttrValue::Numeric(24.0),
            funnel_data::AttrValue::Categorical("M".into())
        ]
    );
    let items = l.items.unwrap();
    let row = items.get("i1").unwrap();
    assert_eq!(row[0], funnel_data::AttrValue::Text("Toy Story".into()));
    assert_eq!(
        row[1],
        funnel_data::AttrValue::Multi(vec!["Animation".into(), "Comedy".into()])
    );
    let bad = write(d.path(), "y.user", b"user_id:token\tage:float\nu1\told\n");
    let e = funnel_data::EntityTable::read_recbole(&bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("y.user:2, column 2") && e.contains("expected a number"),
        "{e}"
    );
}
