//! TaskService: each call converts its request, asks the engine or reads the
//! store, and answers only once what it reports is durable.

use std::pin::Pin;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{event_to_pb, task_state_from_pb, task_to_pb};
use super::pb;
use crate::engine::model::TaskSpec;
use crate::engine::{EngineError, EngineHandle};
use crate::store::{Store, StoreError};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Events read from the store per batch while replaying.
const REPLAY_BATCH: usize = 512;

#[derive(Clone)]
pub struct TaskApi {
    engine: EngineHandle,
    store: Store,
    stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for TaskApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskApi").finish_non_exhaustive()
    }
}

impl TaskApi {
    pub fn new(engine: EngineHandle, store: Store, stop: watch::Receiver<bool>) -> TaskApi {
        TaskApi {
            engine,
            store,
            stop,
        }
    }
}

pub(super) fn engine_status(e: EngineError) -> Status {
    match e {
        EngineError::InvalidArgument(m) => Status::invalid_argument(m),
        e @ EngineError::AlreadyExists(_) => Status::already_exists(e.to_string()),
        e @ EngineError::NotFound(_) => Status::not_found(e.to_string()),
        EngineError::FailedPrecondition(m) => Status::failed_precondition(m),
        EngineError::ResourceExhausted(m) => Status::resource_exhausted(m),
        EngineError::Unavailable(m) => Status::unavailable(m),
        EngineError::Store(e) => store_status(e),
        EngineError::Stopped => Status::unavailable("the gateway is shutting down"),
    }
}

fn store_status(e: StoreError) -> Status {
    tracing::error!(error = %e, "store error");
    Status::internal(format!("store: {e}"))
}

type EventStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl pb::task_service_server::TaskService for TaskApi {
    async fn submit_task(
        &self,
        req: Request<pb::SubmitTaskRequest>,
    ) -> Result<Response<pb::SubmitTaskResponse>, Status> {
        let pb::SubmitTaskRequest { task } = req.into_inner();
        let task = task.ok_or_else(|| Status::invalid_argument("task: missing"))?;
        let spec = TaskSpec::try_from(task)?;
        let done = self.engine.submit(spec).await.map_err(engine_status)?;
        self.store
            .wait_durable(done.ticket)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::SubmitTaskResponse {
            task: Some(task_to_pb(&done.task)),
            created: done.created,
        }))
    }

    async fn cancel_task(
        &self,
        req: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, Status> {
        let pb::CancelTaskRequest { task_id, reason } = req.into_inner();
        if task_id.is_empty() {
            return Err(Status::invalid_argument("task_id: must not be empty"));
        }
        let (task, ticket) = self
            .engine
            .cancel(task_id, reason)
            .await
            .map_err(engine_status)?;
        self.store
            .wait_durable(ticket)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::CancelTaskResponse {
            task: Some(task_to_pb(&task)),
        }))
    }

    async fn get_task(
        &self,
        req: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let pb::GetTaskRequest { task_id } = req.into_inner();
        if task_id.is_empty() {
            return Err(Status::invalid_argument("task_id: must not be empty"));
        }
        match self.store.get_task(&task_id).map_err(store_status)? {
            Some(t) => Ok(Response::new(task_to_pb(&t))),
            None => Err(Status::not_found(format!("task {task_id:?} not found"))),
        }
    }

    async fn list_tasks(
        &self,
        req: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let pb::ListTasksRequest {
            states,
            page_size,
            page_token,
        } = req.into_inner();
        let states = states
            .into_iter()
            .map(task_state_from_pb)
            .collect::<Result<Vec<_>, _>>()?;
        let limit = match page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let after = (!page_token.is_empty()).then_some(page_token.as_str());
        let (tasks, more) = self
            .store
            .list_tasks(&states, after, limit)
            .map_err(store_status)?;
        let next_page_token = match (more, tasks.last()) {
            (true, Some(t)) => t.spec.task_id.clone(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListTasksResponse {
            tasks: tasks.iter().map(task_to_pb).collect(),
            next_page_token,
        }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let pb::WatchEventsRequest { after_seq } = req.into_inner();
        let pos = self.store.position().map_err(store_status)?;
        if after_seq < pos.acked_seq {
            return Err(Status::out_of_range(format!(
                "events up to seq {} were acknowledged and compacted; resume with after_seq >= {}",
                pos.acked_seq, pos.acked_seq
            )));
        }
        let (tx, rx) = mpsc::channel(256);
        let store = self.store.clone();
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let mut durable = store.durable_seq();
            let mut cursor = after_seq;
            loop {
                let up_to = *durable.borrow_and_update();
                while cursor < up_to {
                    let batch = match store.events_after(cursor, up_to, REPLAY_BATCH) {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = tx.send(Err(store_status(e))).await;
                            return;
                        }
                    };
                    if batch.is_empty() {
                        // Compacted by an acknowledgement meanwhile.
                        cursor = up_to;
                        break;
                    }
                    for e in &batch {
                        if tx.send(Ok(event_to_pb(e))).await.is_err() {
                            return;
                        }
                        cursor = e.seq;
                    }
                }
                tokio::select! {
                    r = durable.changed() => if r.is_err() { return },
                    _ = tx.closed() => return,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack_events(
        &self,
        req: Request<pb::AckEventsRequest>,
    ) -> Result<Response<pb::AckEventsResponse>, Status> {
        let pb::AckEventsRequest { up_to_seq } = req.into_inner();
        let pos = self.store.ack(up_to_seq).await.map_err(store_status)?;
        Ok(Response::new(pb::AckEventsResponse {
            acked_seq: pos.acked_seq,
            first_seq: pos.acked_seq + 1,
        }))
    }
}
