//! TaskService: each call converts its request, asks the engine or reads the
//! store, and answers only once what it reports is durable.

use std::pin::Pin;

use prost::Message;
use tokio::sync::watch as signal;
use tonic::{Code, Request, Response, Status};

use super::convert::{check_reason, check_request_id, task_state_from_pb, task_to_pb};
use super::errors;
use super::pb;
use super::watch::{self, Watch};
use crate::engine::model::TaskSpec;
use crate::engine::{EngineError, EngineHandle};
use crate::store::{Store, StoreError};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// A page of tasks is cut at this many encoded bytes (a default client
/// accepts 4 MiB).
pub const MAX_PAGE_BYTES: usize = 1 << 20;
/// At most this many tasks per SubmitTasks.
pub const MAX_BATCH: usize = 500;
/// Page tokens: this prefix, then the last task id of the page, in hex.
const PAGE_TOKEN_PREFIX: &str = "p1.";

#[derive(Clone)]
pub struct TaskApi {
    engine: EngineHandle,
    store: Store,
    stop: signal::Receiver<bool>,
}

impl std::fmt::Debug for TaskApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskApi").finish_non_exhaustive()
    }
}

impl TaskApi {
    pub fn new(engine: EngineHandle, store: Store, stop: signal::Receiver<bool>) -> TaskApi {
        TaskApi {
            engine,
            store,
            stop,
        }
    }
}

pub(super) fn engine_status(e: EngineError) -> Status {
    match e {
        EngineError::InvalidArgument(m) => errors::invalid_message(m),
        e @ EngineError::AlreadyExists(_) => {
            errors::refuse(Code::AlreadyExists, "TASK_EXISTS", e.to_string())
        }
        EngineError::NotFound(what) if what.starts_with("device ") => errors::refuse(
            Code::NotFound,
            "DEVICE_NOT_FOUND",
            format!("{what} not found"),
        ),
        e @ EngineError::NotFound(_) => {
            errors::refuse(Code::NotFound, "TASK_NOT_FOUND", e.to_string())
        }
        EngineError::FailedPrecondition(m) => {
            errors::refuse(Code::FailedPrecondition, "FAILED_PRECONDITION", m)
        }
        EngineError::ResourceExhausted(m) => {
            errors::refuse(Code::ResourceExhausted, "JOURNAL_FULL", m)
        }
        EngineError::Unavailable(m) => errors::refuse(Code::Unavailable, "DEVICE_UNAVAILABLE", m),
        EngineError::Store(e) => store_status(e),
        EngineError::Stopped => errors::refuse(
            Code::Unavailable,
            "SHUTTING_DOWN",
            "the gateway is shutting down",
        ),
    }
}

pub(super) fn store_status(e: StoreError) -> Status {
    tracing::error!(error = %e, "store error");
    errors::refuse(Code::Internal, "STORE_ERROR", format!("store: {e}"))
}

type EventStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Event, Status>> + Send>>;

impl TaskApi {
    /// One submit, answered once durable.
    async fn submit_one(&self, task: Option<pb::Task>) -> Result<(pb::Task, bool), Status> {
        let task = task.ok_or_else(|| errors::invalid("task", "missing"))?;
        let spec = TaskSpec::try_from(task)?;
        let done = self.engine.submit(spec).await.map_err(engine_status)?;
        self.store
            .wait_durable(done.ticket)
            .await
            .map_err(store_status)?;
        Ok((task_to_pb(&done.task), done.created))
    }

    /// `Some(id)` unless the request names another journal.
    fn check_journal(&self, journal_id: &str) -> Result<(), Status> {
        if journal_id.is_empty() || journal_id == self.store.journal_id() {
            return Ok(());
        }
        Err(errors::refuse(Code::FailedPrecondition, "JOURNAL_MISMATCH", format!(
            "journal_id {:?} is not this gateway's journal ({}): its data directory was replaced; start over from after_seq 0 with the new id",
            super::convert::clip(journal_id),
            self.store.journal_id()
        )))
    }
}

/// The opaque token that continues a listing after `task_id`.
fn next_token(task_id: &str) -> String {
    let mut t = String::with_capacity(PAGE_TOKEN_PREFIX.len() + 2 * task_id.len());
    t.push_str(PAGE_TOKEN_PREFIX);
    for b in task_id.as_bytes() {
        t.push_str(&format!("{b:02x}"));
    }
    t
}

/// The task id a page token continues after; INVALID_ARGUMENT for anything
/// this gateway did not issue.
fn parse_page_token(token: &str) -> Result<String, Status> {
    let bad = || errors::invalid("page_token", "not a token this gateway issued");
    let hex = token.strip_prefix(PAGE_TOKEN_PREFIX).ok_or_else(bad)?;
    if hex.len() % 2 != 0 || hex.len() > 2 * super::convert::MAX_ID_LEN {
        return Err(bad());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

#[tonic::async_trait]
impl pb::task_service_server::TaskService for TaskApi {
    async fn submit_task(
        &self,
        req: Request<pb::SubmitTaskRequest>,
    ) -> Result<Response<pb::SubmitTaskResponse>, Status> {
        let pb::SubmitTaskRequest { task } = req.into_inner();
        let (task, created) = self.submit_one(task).await?;
        Ok(Response::new(pb::SubmitTaskResponse {
            task: Some(task),
            created,
        }))
    }

    async fn submit_tasks(
        &self,
        req: Request<pb::SubmitTasksRequest>,
    ) -> Result<Response<pb::SubmitTasksResponse>, Status> {
        let pb::SubmitTasksRequest { tasks } = req.into_inner();
        if tasks.len() > MAX_BATCH {
            return Err(errors::invalid(
                "tasks",
                format!("{} tasks, at most {MAX_BATCH} per call", tasks.len()),
            ));
        }
        // All at once: the engine takes them in one pass and one flush makes
        // them durable together.
        let ids: Vec<String> = tasks.iter().map(|t| t.task_id.clone()).collect();
        let answers =
            futures_util::future::join_all(tasks.into_iter().map(|t| self.submit_one(Some(t))))
                .await;
        let results = ids
            .into_iter()
            .zip(answers)
            .map(|(task_id, a)| match a {
                Ok((task, created)) => pb::SubmitTaskResult {
                    task_id,
                    code: 0,
                    message: String::new(),
                    task: Some(task),
                    created,
                },
                Err(s) => pb::SubmitTaskResult {
                    task_id: super::convert::clip(&task_id).into_owned(),
                    code: s.code() as i32,
                    message: s.message().to_string(),
                    task: None,
                    created: false,
                },
            })
            .collect();
        Ok(Response::new(pb::SubmitTasksResponse { results }))
    }

    async fn cancel_task(
        &self,
        req: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, Status> {
        let pb::CancelTaskRequest { task_id, reason } = req.into_inner();
        check_request_id("task_id", &task_id)?;
        check_reason(&reason)?;
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
        check_request_id("task_id", &task_id)?;
        match self.store.get_task(&task_id).map_err(store_status)? {
            Some(t) => Ok(Response::new(task_to_pb(&t))),
            None => Err(errors::refuse(
                Code::NotFound,
                "TASK_NOT_FOUND",
                format!("task {task_id:?} not found"),
            )),
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
        let after = match page_token.as_str() {
            "" => None,
            t => Some(parse_page_token(t)?),
        };
        let (tasks, mut more) = self
            .store
            .list_tasks(&states, after.as_deref(), limit)
            .map_err(store_status)?;
        // Cut the page at MAX_PAGE_BYTES of encoded tasks (never below one).
        let mut out = Vec::with_capacity(tasks.len());
        let mut bytes = 0;
        for t in &tasks {
            let pb = task_to_pb(t);
            let len = pb.encoded_len();
            if !out.is_empty() && bytes + len > MAX_PAGE_BYTES {
                more = true;
                break;
            }
            bytes += len;
            out.push(pb);
        }
        let next_page_token = match (more, out.last()) {
            (true, Some(t)) => next_token(&t.task_id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListTasksResponse {
            tasks: out,
            next_page_token,
        }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let pb::WatchEventsRequest {
            after_seq,
            journal_id,
            task_ids,
            kinds,
        } = req.into_inner();
        self.check_journal(&journal_id)?;
        let pos = self.store.position().map_err(store_status)?;
        if after_seq < pos.acked_seq {
            return Err(errors::refuse(
                Code::OutOfRange,
                "CURSOR_COMPACTED",
                format!(
                "events up to seq {} were acknowledged and compacted; resume with after_seq >= {}",
                pos.acked_seq, pos.acked_seq
            ),
            ));
        }
        let end = *self.store.durable_seq().borrow();
        if after_seq > end {
            return Err(errors::refuse(Code::OutOfRange, "CURSOR_BEYOND_END", format!(
                "after_seq {after_seq} is beyond the journal's end (seq {end}); is the cursor from another journal?"
            )));
        }
        let filter = watch::Filter::new(task_ids, kinds)?;
        let w = Watch {
            store: self.store.clone(),
            stop: self.stop.clone(),
            after_seq,
            filter,
        };
        Ok(Response::new(Box::pin(w.spawn())))
    }

    async fn ack_events(
        &self,
        req: Request<pb::AckEventsRequest>,
    ) -> Result<Response<pb::AckEventsResponse>, Status> {
        let pb::AckEventsRequest {
            up_to_seq,
            journal_id,
        } = req.into_inner();
        self.check_journal(&journal_id)?;
        let pos = self.store.ack(up_to_seq).await.map_err(store_status)?;
        Ok(Response::new(pb::AckEventsResponse {
            acked_seq: pos.acked_seq,
            first_seq: pos.acked_seq + 1,
            journal_id: self.store.journal_id().to_string(),
        }))
    }
}
