//! The Parquet encoder of large flushes: one zstd file per table and flush,
//! written from Arrow directly, its row groups and columns encoded on several
//! threads, with dictionaries, statistics and bloom filters only where
//! DuckDB's reads use them.

use crate::otlp::schema::{Column, Table};
use duckdb::arrow::array::{make_array, ArrayData, ArrayRef, StringArray};
use duckdb::arrow::datatypes::{DataType, Field, Fields, Schema};
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{context}: {source}")]
    Arrow { context: String, source: ArrowError },
    #[error("{context}: {source}")]
    Parquet { context: String, source: ParquetError },
}

/// Writes batches as one zstd Parquet file and makes it durable before the
/// transaction that registers it (a crash in between leaves an unreferenced file).
pub(super) fn write_parquet(
    folder: &Path,
    path: &Path,
    table: Table,
    batches: &[&RecordBatch],
) -> Result<(), WriteError> {
    let io = |source: std::io::Error| WriteError::Io { context: format!("writing {}", path.display()), source };
    std::fs::create_dir_all(folder).map_err(io)?;
    let file = File::create(path).map_err(io)?;
    write_parquet_to(file, path, table, batches, parquet_properties(table, batches), encoder_threads())?
        .sync_all()
        .map_err(io)
}

fn write_parquet_to(
    file: File,
    path: &Path,
    table: Table,
    batches: &[&RecordBatch],
    properties: WriterProperties,
    threads: usize,
) -> Result<File, WriteError> {
    let parquet = |source: ParquetError| WriteError::Parquet { context: format!("writing {}", path.display()), source };
    let arrow = |source: ArrowError| WriteError::Arrow { context: format!("writing {}", path.display()), source };
    let schema =
        Arc::new(Schema::new(table.arrow_schema().fields().iter().map(|f| parquet_field(f)).collect::<Vec<_>>()));
    let batches = batches
        .iter()
        .map(|batch| batch.columns().iter().map(parquet_array).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow)?;
    let (mut file_writer, factory) = ArrowWriter::try_new(file, schema.clone(), Some(properties))
        .and_then(|writer| writer.into_serialized_writer())
        .map_err(parquet)?;
    for chunks in encode_row_groups(&factory, &schema, &batches, threads).map_err(parquet)? {
        let mut row_group = file_writer.next_row_group().map_err(parquet)?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group).map_err(parquet)?;
        }
        row_group.close().map_err(parquet)?;
    }
    file_writer.into_inner().map_err(parquet)
}

/// Rows per Parquet row group, about DuckDB's own (122,880): DuckDB scans a
/// file's row groups in parallel, and the writer encodes them in parallel.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Consecutive batches cut into row groups of about [`ROW_GROUP_ROWS`] rows
/// (whole batches: a request's rows stay together).
fn row_groups(batches: &[Vec<ArrayRef>]) -> Vec<&[Vec<ArrayRef>]> {
    let rows = |columns: &Vec<ArrayRef>| columns.first().map_or(0, |c| c.len());
    let total: usize = batches.iter().map(rows).sum();
    let groups = total.div_ceil(ROW_GROUP_ROWS).max(1);
    let target = total.div_ceil(groups);
    let mut cut = Vec::with_capacity(groups);
    let (mut start, mut filled) = (0, 0);
    for (index, columns) in batches.iter().enumerate() {
        filled += rows(columns);
        if filled >= target && cut.len() + 1 < groups {
            cut.push(&batches[start..=index]);
            (start, filled) = (index + 1, 0);
        }
    }
    cut.push(&batches[start..]);
    cut
}

/// How many threads encode one file's row groups and columns: twice the
/// cores. Encoding is the writer's largest cost and the writer is what limits
/// ingest; the HTTP handlers run on as many threads as there are connections,
/// and with one encoding thread per core the writer got too small a share of
/// the CPU under load (measured: 2 -> 4 threads on 2 cores cut 429s and
/// visibility lag at the same ingest rate).
fn encoder_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_mul(2).clamp(2, 8)
}

/// One column of one row group: the unit of encoding work.
struct ColumnJob<'a> {
    row_group: usize,
    column: usize,
    arrays: Vec<&'a ArrayRef>,
    writers: Mutex<Vec<ArrowColumnWriter>>,
}

/// Encodes every column of every row group, several at once: each thread
/// takes the next unclaimed job until none is left. Jobs are taken largest
/// first (attribute maps, ids, bodies), so no big column starts last and
/// keeps one thread busy while the others idle. The chunks come back per row
/// group, in schema order.
fn encode_row_groups(
    factory: &ArrowRowGroupWriterFactory,
    schema: &Schema,
    batches: &[Vec<ArrayRef>],
    threads: usize,
) -> Result<Vec<Vec<ArrowColumnChunk>>, ParquetError> {
    let groups = row_groups(batches);
    let mut jobs = Vec::new();
    for (row_group, group) in groups.iter().enumerate() {
        let mut writers = factory.create_column_writers(row_group)?.into_iter();
        for (column, field) in schema.fields().iter().enumerate() {
            jobs.push(ColumnJob {
                row_group,
                column,
                arrays: group.iter().map(|columns| &columns[column]).collect(),
                writers: Mutex::new(writers.by_ref().take(leaf_count(field.data_type())).collect()),
            });
        }
    }
    let size = |job: &ColumnJob| job.arrays.iter().map(|a| a.get_array_memory_size()).sum::<usize>();
    jobs.sort_by_cached_key(|job| std::cmp::Reverse(size(job)));
    let next = AtomicUsize::new(0);
    let work = || -> Result<(), ParquetError> {
        while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
            let field = &schema.fields()[job.column];
            let mut writers = job.writers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for array in &job.arrays {
                for (writer, leaf) in writers.iter_mut().zip(compute_leaves(field, array)?) {
                    writer.write(&leaf)?;
                }
            }
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mine = work();
        helpers
            .into_iter()
            .try_for_each(|helper| helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))?;
        mine
    })?;
    jobs.sort_by_key(|job| (job.row_group, job.column));
    let mut chunks: Vec<Vec<ArrowColumnChunk>> = (0..groups.len()).map(|_| Vec::new()).collect();
    for job in jobs {
        for writer in job.writers.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            chunks[job.row_group].push(writer.close()?);
        }
    }
    Ok(chunks)
}

/// Parquet leaf columns under one Arrow field (a MAP has a key and a value leaf).
fn leaf_count(data_type: &DataType) -> usize {
    match data_type {
        DataType::List(item) => leaf_count(item.data_type()),
        DataType::Map(entries, _) => leaf_count(entries.data_type()),
        DataType::Struct(fields) => fields.iter().map(|f| leaf_count(f.data_type())).sum(),
        _ => 1,
    }
}

/// Columns whose values repeat across rows (a handful of services, scopes,
/// severities, metric names): dictionary encoding pays for itself there.
/// Everywhere else (ids, bodies, attribute maps) interning every value costs
/// more CPU than the whole zstd pass and zstd shrinks the plain pages as well,
/// so the writer encodes those columns plain (measured in `bench_parquet_logs`).
const DICTIONARY_COLUMNS: &[&str] = &[
    "service_name",
    "severity_text",
    "scope_name",
    "scope_version",
    "scope_schema_url",
    "resource_schema_url",
    "event_name",
    "span_name",
    "span_kind",
    "status_code",
    "metric_name",
    "metric_description",
    "metric_unit",
];

/// Random hex ids: plain encoding puts a 4-byte length before every 16 or 32
/// hex digits, and those prefixes halve zstd's speed on the column (it finds
/// short false matches in them where pure hex offers none: 215 against 445 MB/s
/// at level 1) and cost 5% more bytes. DELTA_LENGTH_BYTE_ARRAY stores the lengths
/// apart, bit-packed, and the digits back to back (`bench_columns`: `trace_id`
/// 440 → 210 ns a row, `span_id` 207 → 89).
const HEX_ID_COLUMNS: &[&str] = &["trace_id", "span_id", "parent_span_id"];

fn parquet_properties(table: Table, batches: &[&RecordBatch]) -> WriterProperties {
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None);
    for column in table.columns() {
        let path = ColumnPath::from(column.name);
        let repeating = DICTIONARY_COLUMNS.contains(&column.name);
        if repeating && only_empty_strings(batches, column.name) {
            continue;
        }
        if repeating {
            properties = properties.set_column_dictionary_enabled(path.clone(), true);
        }
        if has_useful_statistics(column) {
            properties = properties.set_column_statistics_enabled(path, EnabledStatistics::Page);
        }
    }
    for column in table.columns().iter().filter(|column| HEX_ID_COLUMNS.contains(&column.name)) {
        properties = properties.set_column_encoding(ColumnPath::from(column.name), Encoding::DELTA_LENGTH_BYTE_ARRAY);
    }
    // random ids defeat min/max pruning; a bloom filter lets a trace lookup skip files.
    // Sized for the row group's rows, not arrow-rs' default of a million distinct values:
    // that filter (about 1 MB per row group) missed the CPU caches on every insert, which
    // cost 240 ns a row, about as much as zstd-compressing the id (`bench_columns`)
    if table.columns().iter().any(|column| column.name == "trace_id") {
        let path = ColumnPath::from("trace_id");
        properties = properties
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_ndv(path, bloom_filter_ndv(batches));
    }
    properties.build()
}

/// Distinct trace ids a row group can hold at most: its rows.
fn bloom_filter_ndv(batches: &[&RecordBatch]) -> u64 {
    let rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
    let per_group = rows.div_ceil(rows.div_ceil(ROW_GROUP_ROWS).max(1));
    per_group.max(1024) as u64
}

/// A text column with no characters in this flush (no schema URL, no scope
/// version, no event name: the usual case). arrow-rs spends 100-300 ns per
/// empty string on dictionary interning and min/max, 10-40x what it spends on
/// a short non-empty one, which made these columns half of a log flush's
/// encoding time; written plain they cost a few ns per row and compress to
/// nothing. Their statistics could only prune `= ''`.
fn only_empty_strings(batches: &[&RecordBatch], name: &str) -> bool {
    batches.iter().all(|batch| {
        batch
            .column_by_name(name)
            .and_then(|column| column.as_any().downcast_ref::<StringArray>())
            .is_some_and(|strings| strings.value_data().is_empty())
    })
}

/// Min/max statistics let DuckLake skip files and row groups, but only where
/// values cluster: timestamps, numbers and the repeating names above. Over
/// unique strings (bodies, random ids) and attribute maps they prune nothing,
/// and comparing every value for them was the writer's single largest cost.
fn has_useful_statistics(column: &Column) -> bool {
    let text = column.sql_type == "VARCHAR";
    let nested = column.sql_type.contains('(') || column.sql_type.ends_with("[]");
    DICTIONARY_COLUMNS.contains(&column.name) || !(text || nested)
}

/// Parquet's own names for nested children: `key`/`value` inside a MAP and
/// `element` inside a LIST. DuckLake matches a registered file's columns by
/// these paths, while Arrow's builders name them `keys`/`values`/`item`.
fn parquet_field(field: &Field) -> Field {
    field.clone().with_data_type(parquet_type(field.data_type()))
}

fn parquet_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::List(item) => {
            DataType::List(Arc::new(Field::new("element", parquet_type(item.data_type()), item.is_nullable())))
        }
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| parquet_field(f)).collect()),
        DataType::Map(entries, sorted) => {
            let DataType::Struct(kv) = entries.data_type() else { return data_type.clone() };
            let renamed: Fields = vec![
                Field::new("key", parquet_type(kv[0].data_type()), false),
                Field::new("value", parquet_type(kv[1].data_type()), kv[1].is_nullable()),
            ]
            .into();
            DataType::Map(Arc::new(Field::new("key_value", DataType::Struct(renamed), false)), *sorted)
        }
        other => other.clone(),
    }
}

/// The same data under [`parquet_type`]'s names (buffers are shared, not copied).
fn parquet_array(array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let target = parquet_type(array.data_type());
    if &target == array.data_type() {
        return Ok(array.clone());
    }
    Ok(make_array(retype(array.to_data(), &target)?))
}

fn retype(data: ArrayData, target: &DataType) -> Result<ArrayData, ArrowError> {
    let child_types: Vec<DataType> = match target {
        DataType::List(item) => vec![item.data_type().clone()],
        DataType::Map(entries, _) => vec![entries.data_type().clone()],
        DataType::Struct(fields) => fields.iter().map(|f| f.data_type().clone()).collect(),
        _ => Vec::new(),
    };
    let children = data
        .child_data()
        .iter()
        .zip(&child_types)
        .map(|(child, child_type)| retype(child.clone(), child_type))
        .collect::<Result<Vec<_>, _>>()?;
    let children = if child_types.is_empty() { data.child_data().to_vec() } else { children };
    data.into_builder().data_type(target.clone()).child_data(children).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{decode, Compression as Codec, Format, RequestKind, Signal};
    use prost::Message;
    use std::time::Instant;

    /// Rows of one large flush: `requests` realistic 500-record log requests
    /// with distinct bodies and random-looking trace and span ids.
    pub(crate) fn flush_of_logs(requests: usize) -> (Vec<RecordBatch>, usize) {
        let kind = RequestKind { signal: Signal::Logs, format: Format::Protobuf, compression: Codec::None };
        let mut all = crate::otlp::fixtures::realistic_logs(500 * requests);
        let records = std::mem::take(&mut all.resource_logs[0].scope_logs[0].log_records);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random_bytes = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        };
        let mut bytes = 0;
        let mut batches = Vec::new();
        for chunk in records.chunks(500) {
            let mut request = all.clone();
            request.resource_logs[0].scope_logs[0].log_records = chunk
                .iter()
                .cloned()
                .map(|mut record| {
                    record.trace_id = random_bytes(16);
                    record.span_id = random_bytes(8);
                    record
                })
                .collect();
            let body = request.encode_to_vec();
            bytes += body.len();
            batches.push(decode(kind, &body, usize::MAX).unwrap().batches.remove(0).batch);
        }
        (batches, bytes)
    }

    fn time_write(label: &str, batches: &[RecordBatch], protobuf_bytes: usize, write: impl Fn(&Path)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write(&path); // warm-up
        let runs = 5;
        let start = Instant::now();
        for _ in 0..runs {
            write(&path);
        }
        let secs = start.elapsed().as_secs_f64() / runs as f64;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let size = std::fs::metadata(&path).unwrap().len();
        println!(
            "{label}: {:.1} MB/s of protobuf, {:.0} k rows/s, {} bytes",
            protobuf_bytes as f64 / secs / 1e6,
            rows as f64 / secs / 1e3,
            size
        );
    }

    #[test]
    fn parallel_encoding_writes_every_row_with_statistics_where_they_prune() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let (batches, _) = flush_of_logs(3);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("t.parquet");
        write_parquet(path.parent().unwrap(), &path, Table::Logs, &refs).unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let metadata = reader.metadata();
        assert_eq!(metadata.file_metadata().num_rows(), 1500);
        assert_eq!(metadata.num_row_groups(), 1);
        let row_group = metadata.row_group(0);
        let column =
            |name: &str| row_group.columns().iter().find(|c| c.column_path().string() == name).expect(name).clone();
        let has_stats = |name: &str| column(name).statistics().is_some_and(|s| s.min_bytes_opt().is_some());
        assert!(has_stats("timestamp"));
        assert!(has_stats("service_name"));
        assert!(!has_stats("body"));
        assert!(!has_stats("trace_id"));
        assert!(column("trace_id").bloom_filter_offset().is_some());
        // sized for 1,500 rows (a few KB), not arrow-rs' default million values (about 1 MB)
        let bloom_bytes = column("trace_id").bloom_filter_length().expect("bloom filter length");
        assert!((1024..16 * 1024).contains(&bloom_bytes), "{bloom_bytes} bytes");
        let options = parquet::file::serialized_reader::ReadOptionsBuilder::new()
            .with_reader_properties(
                parquet::file::properties::ReaderProperties::builder().set_read_bloom_filter(true).build(),
            )
            .build();
        let with_bloom = SerializedFileReader::new_with_options(File::open(&path).unwrap(), options).unwrap();
        let trace_ids = batches[0].column_by_name("trace_id").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        let trace_index = metadata.row_group(0).columns().iter().position(|c| c.column_path().string() == "trace_id");
        let filter = with_bloom.get_row_group(0).unwrap().get_column_bloom_filter(trace_index.unwrap()).cloned();
        let filter = filter.expect("bloom filter read back");
        assert!(filter.check(&trace_ids.value(7)), "a written trace id is in the filter");
        for id in ["trace_id", "span_id"] {
            assert!(column(id).encodings().any(|e| e == Encoding::DELTA_LENGTH_BYTE_ARRAY), "{id}");
        }
        assert!(!column("body").encodings().any(|e| e == Encoding::DELTA_LENGTH_BYTE_ARRAY));
        assert_eq!(row_group.num_columns(), 20); // 14 plain columns + key and value of 3 maps
                                                 // no scope version, schema URLs or event names were sent: plain, without statistics
        assert!(!has_stats("scope_version"));
        assert!(column("scope_version").dictionary_page_offset().is_none());
        assert!(column("service_name").dictionary_page_offset().is_some());
    }

    #[test]
    fn large_flushes_are_cut_into_row_groups_of_whole_requests() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let (batches, _) = flush_of_logs(600); // 300,000 rows in requests of 500
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("t.parquet");
        write_parquet(path.parent().unwrap(), &path, Table::Logs, &refs).unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let rows: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(rows, vec![100_000, 100_000, 100_000]);
        let first_body = |group: usize| {
            let row_group = reader.get_row_group(group).unwrap();
            let row = row_group.get_row_iter(None).unwrap().next().unwrap().unwrap();
            row.get_column_iter().find(|(name, _)| *name == "body").map(|(_, value)| value.to_string()).unwrap()
        };
        let body_at = |row: usize| {
            let (batch, offset) = (row / 500, row % 500);
            let bodies = batches[batch].column_by_name("body").unwrap();
            format!("{:?}", bodies.as_any().downcast_ref::<StringArray>().unwrap().value(offset))
        };
        assert_eq!(first_body(1), body_at(100_000));
        assert_eq!(first_body(2), body_at(200_000));
    }

    #[test]
    fn empty_text_columns_are_written_plain_only_while_empty() {
        let (mut batches, _) = flush_of_logs(1);
        let event_name = ColumnPath::from("event_name");
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let properties = parquet_properties(Table::Logs, &refs);
        assert!(!properties.dictionary_enabled(&event_name));
        assert_eq!(properties.statistics_enabled(&event_name), EnabledStatistics::None);

        let index = batches[0].schema().index_of("event_name").unwrap();
        let mut columns = batches[0].columns().to_vec();
        let rows = batches[0].num_rows();
        columns[index] = Arc::new(StringArray::from_iter_values((0..rows).map(|i| if i == 0 { "login" } else { "" })));
        batches.push(RecordBatch::try_new(batches[0].schema(), columns).unwrap());
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let properties = parquet_properties(Table::Logs, &refs);
        assert!(properties.dictionary_enabled(&event_name));
        assert_eq!(properties.statistics_enabled(&event_name), EnabledStatistics::Page);
    }

    /// `cargo test --release --lib lake::parquet_file::tests::bench_columns -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_columns() {
        let (batches, bytes) = flush_of_logs(200);
        let schema = Arc::new(Schema::new(
            Table::Logs.arrow_schema().fields().iter().map(|f| parquet_field(f)).collect::<Vec<_>>(),
        ));
        let arrays: Vec<Vec<ArrayRef>> =
            batches.iter().map(|b| b.columns().iter().map(|c| parquet_array(c).unwrap()).collect()).collect();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        println!("{rows} rows, {bytes} bytes of protobuf");
        let properties = parquet_properties(Table::Logs, &batches.iter().collect::<Vec<_>>());
        // one column's encoding, timed; the best of several runs, since a shared
        // machine's noise only ever adds time
        let encode_once = |index: usize, field: &Arc<Field>| {
            let dir = tempfile::tempdir().unwrap();
            let file = File::create(dir.path().join("t.parquet")).unwrap();
            let (_, factory) = ArrowWriter::try_new(file, schema.clone(), Some(properties.clone()))
                .and_then(|w| w.into_serialized_writer())
                .unwrap();
            let start = Instant::now();
            let mut writers = factory.create_column_writers(0).unwrap().into_iter();
            let before: usize = schema.fields()[..index].iter().map(|f| leaf_count(f.data_type())).sum();
            let mut mine: Vec<ArrowColumnWriter> =
                writers.by_ref().skip(before).take(leaf_count(field.data_type())).collect();
            for columns in &arrays {
                for (writer, leaf) in mine.iter_mut().zip(compute_leaves(field, &columns[index]).unwrap()) {
                    writer.write(&leaf).unwrap();
                }
            }
            let bytes_out: usize =
                mine.into_iter().map(|w| w.close().unwrap().close().metadata.compressed_size() as usize).sum();
            (start.elapsed().as_secs_f64(), bytes_out)
        };
        let mut total = 0.0;
        for (index, field) in schema.fields().iter().enumerate() {
            let (secs, bytes_out) =
                (0..5).map(|_| encode_once(index, field)).min_by(|a, b| a.0.total_cmp(&b.0)).expect("five runs");
            total += secs;
            println!(
                "{:28} {:7.1} ms {:6.0} ns/row {:10} bytes",
                field.name(),
                secs * 1e3,
                secs * 1e9 / rows as f64,
                bytes_out
            );
        }
        println!(
            "total {:.1} ms: {:.0} k rows/s, {:.1} MB/s of protobuf on one core",
            total * 1e3,
            rows as f64 / total / 1e3,
            bytes as f64 / total / 1e6
        );
    }

    /// `cargo test --release --lib lake::parquet_file::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_parquet_logs() {
        let (batches, bytes) = flush_of_logs(200);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let old = || {
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true)
                .build()
        };
        let variants: Vec<(&str, WriterProperties, usize)> = vec![
            ("before: dictionary and statistics on every column, 1 thread", old(), 1),
            ("dictionary and statistics where they pay, 1 thread", parquet_properties(Table::Logs, &refs), 1),
            ("dictionary and statistics where they pay, 2 threads", parquet_properties(Table::Logs, &refs), 2),
        ];
        for (label, properties, threads) in variants {
            time_write(label, &batches, bytes, |path| {
                let file = File::create(path).unwrap();
                write_parquet_to(file, path, Table::Logs, &refs, properties.clone(), threads).unwrap();
            });
        }
    }
}
