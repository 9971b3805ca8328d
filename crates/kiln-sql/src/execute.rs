//! Executing a planned query on the query engine's runtime.
//!
//! ```text
//!  caller's task (I/O runtime)            query runtime
//!  execute(df) ──spawn──────────────────► df.execute_stream(), then poll it:
//!     ◄── started / planning error ──────   operators, decoding, aggregation
//!  stream ◄──── mpsc (2 batches) ────────   batch by batch
//!  dropped ─► task aborted (AbortOnDrop), and a full channel stops it too
//! ```
//!
//! DataFusion spawns its partition tasks on the runtime that executes the
//! plan, so starting the execution there moves all of it.

use arrow::array::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use kiln_query::QueryRuntime;
use std::sync::Arc;

/// Batches in flight between the query runtime and the caller.
const IN_FLIGHT: usize = 2;

/// `df`'s result stream, computed on `runtime` when given (else on the
/// caller's runtime).
pub(crate) async fn execute(
    df: DataFrame,
    runtime: Option<&QueryRuntime>,
) -> Result<SendableRecordBatchStream> {
    let Some(runtime) = runtime else {
        return df.execute_stream().await;
    };
    let schema = Arc::new(df.schema().as_arrow().clone());
    let (batches, receiver) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(IN_FLIGHT);
    let (started, start) = tokio::sync::oneshot::channel::<Result<()>>();
    let task = runtime
        .spawn(async move {
            let mut stream = match df.execute_stream().await {
                Ok(stream) => {
                    let _ = started.send(Ok(()));
                    stream
                }
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            while let Some(batch) = stream.next().await {
                if batches.send(batch).await.is_err() {
                    return; // the caller is gone
                }
            }
        })
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    start
        .await
        .map_err(|_| DataFusionError::Internal("the query runtime dropped the query".into()))??;
    let stream = futures::stream::unfold((receiver, task), |(mut receiver, task)| async move {
        let batch = receiver.recv().await?;
        Some((batch, (receiver, task)))
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
    use datafusion::prelude::SessionContext;
    use kiln_meta::InMemoryMetastore;
    use kiln_query::{DataFusionEngine, EngineConfig};
    use object_store::memory::InMemory;

    /// `thread()`: the name of the thread evaluating it.
    fn thread_udf() -> ScalarUDF {
        create_udf(
            "thread",
            vec![],
            arrow::datatypes::DataType::Utf8,
            Volatility::Volatile,
            Arc::new(|_args: &[ColumnarValue]| {
                let name = std::thread::current().name().unwrap_or("").to_string();
                Ok(ColumnarValue::Array(Arc::new(StringArray::from(vec![
                    name,
                ]))))
            }),
        )
    }

    async fn thread_of(runtime: Option<&QueryRuntime>) -> String {
        let ctx = SessionContext::new();
        ctx.register_udf(thread_udf());
        let df = ctx.sql("SELECT thread() AS t").await.expect("plan");
        let mut stream = execute(df, runtime).await.expect("execute");
        let batch = stream.next().await.expect("a batch").expect("no error");
        assert!(stream.next().await.is_none());
        batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8")
            .value(0)
            .to_string()
    }

    /// An engine over nothing: only its runtime is used.
    fn engine() -> DataFusionEngine {
        DataFusionEngine::new(
            Arc::new(InMemory::new()),
            Arc::new(InMemoryMetastore::new()),
            EngineConfig::default(),
        )
        .expect("engine")
    }

    #[tokio::test]
    async fn runs_on_the_query_runtime_when_given_one() {
        let engine = engine();
        assert_eq!(thread_of(Some(&engine.query_runtime())).await, "kiln-query");
        assert_ne!(thread_of(None).await, "kiln-query");
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_the_query() {
        let engine = engine();
        let runtime = engine.query_runtime();
        // `counted(v)`: v, counting the batches the query computes.
        let batches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = batches.clone();
        let counted = create_udf(
            "counted",
            vec![arrow::datatypes::DataType::Int64],
            arrow::datatypes::DataType::Int64,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(args[0].clone())
            }),
        );
        let ctx = SessionContext::new();
        ctx.register_udf(counted);
        // About 1,200 batches of 8,192 rows: far more than the channel holds.
        let df = ctx
            .sql("SELECT counted(v) FROM generate_series(1, 10000000) AS t(v)")
            .await
            .expect("plan");
        let mut stream = execute(df, Some(&runtime)).await.expect("execute");
        assert!(stream.next().await.expect("a batch").is_ok());
        drop(stream);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let computed = batches.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            computed < 100,
            "the query went on after its stream was dropped: {computed} batches"
        );
        // The runtime still serves new queries.
        assert_eq!(thread_of(Some(&runtime)).await, "kiln-query");
    }
}
