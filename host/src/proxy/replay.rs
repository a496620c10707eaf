//! Request bodies on the general path: streamed to the upstream as they arrive, and,
//! when the request may be retried, recorded on the way (up to a size) so that a retry
//! can send the same bytes again. Nothing waits for the whole body: a streaming call
//! flows as before, it just cannot be retried once its recording is incomplete or
//! over the size.

use crate::proxy::client_body::{BoxError, ClientBody};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

/// A request body sent upstream.
pub(crate) enum RequestBody {
    /// The client's body, passed through (and copied into the recording, if any).
    Streamed {
        inner: ClientBody,
        recording: Option<Arc<Mutex<Recording>>>,
    },
    /// A recorded body, sent again.
    Replayed {
        data: VecDeque<Bytes>,
        trailers: Option<HeaderMap>,
    },
}

/// What has been copied of a body so far.
#[derive(Default)]
pub(crate) struct Recording {
    data: Vec<Bytes>,
    trailers: Option<HeaderMap>,
    size: usize,
    limit: usize,
    state: State,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// More may come.
    #[default]
    Open,
    /// The body ended within the limit: it can be replayed.
    Complete,
    /// Over the limit or broken: never replayable.
    Abandoned,
}

/// The handle a retry uses to send a recorded body again.
struct Recorder(Arc<Mutex<Recording>>);

impl RequestBody {
    /// `inner` passed through as is.
    fn streamed(inner: ClientBody) -> Self {
        Self::Streamed {
            inner,
            recording: None,
        }
    }

    /// `inner` passed through and recorded while it stays within `limit` bytes.
    fn recorded(inner: ClientBody, limit: usize) -> (Self, Recorder) {
        let recording = Arc::new(Mutex::new(Recording {
            limit,
            state: if inner.is_end_stream() {
                State::Complete
            } else {
                State::Open
            },
            ..Recording::default()
        }));
        let body = Self::Streamed {
            inner,
            recording: Some(Arc::clone(&recording)),
        };
        (body, Recorder(recording))
    }
}

impl Recorder {
    /// The recorded body to send again, when all of it was recorded.
    fn replay(&self) -> Option<RequestBody> {
        let recording = self.0.lock().ok()?;
        (recording.state == State::Complete).then(|| RequestBody::Replayed {
            data: recording.data.iter().cloned().collect(),
            trailers: recording.trailers.clone(),
        })
    }

    /// Whether all of the body was recorded.
    fn complete(&self) -> bool {
        self.0
            .lock()
            .is_ok_and(|recording| recording.state == State::Complete)
    }
}

impl Recording {
    /// Copies `frame`, and notes whether the body ended with it.
    fn copy(&mut self, frame: &Frame<Bytes>, ended: bool) {
        if self.state != State::Open {
            return;
        }
        if let Some(data) = frame.data_ref() {
            self.size += data.len();
            if self.size > self.limit {
                self.abandon();
                return;
            }
            self.data.push(data.clone());
        } else if let Some(trailers) = frame.trailers_ref() {
            self.trailers = Some(trailers.clone());
        }
        if ended {
            self.state = State::Complete;
        }
    }

    fn abandon(&mut self) {
        self.state = State::Abandoned;
        self.data = Vec::new();
        self.trailers = None;
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Streamed { inner, recording } => {
                let frame = ready!(Pin::new(&mut *inner).poll_frame(cx));
                if let Some(recording) = recording
                    && let Ok(mut recording) = recording.lock()
                {
                    match &frame {
                        Some(Ok(frame)) => recording.copy(frame, inner.is_end_stream()),
                        Some(Err(_)) => recording.abandon(),
                        None if recording.state == State::Open => {
                            recording.state = State::Complete;
                        }
                        None => {}
                    }
                }
                Poll::Ready(frame)
            }
            Self::Replayed { data, trailers } => Poll::Ready(match data.pop_front() {
                Some(chunk) => Some(Ok(Frame::data(chunk))),
                None => trailers.take().map(|t| Ok(Frame::trailers(t))),
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Streamed { inner, .. } => inner.is_end_stream(),
            Self::Replayed { data, trailers } => data.is_empty() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Streamed { inner, .. } => inner.size_hint(),
            Self::Replayed { data, trailers: _ } => {
                SizeHint::with_exact(data.iter().map(|d| d.len() as u64).sum())
            }
        }
    }
}

/// The request of each attempt: the client's own first, then replays of it while its
/// body was recorded whole.
pub(crate) struct Attempts {
    first: Option<Request<RequestBody>>,
    again: Option<(Head, Recorder)>,
}

/// What a replay copies of the client's request head.
struct Head {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Attempts {
    /// Attempts of the request with `parts` and `body`; with `keep`, its body is
    /// recorded up to that many bytes for replays, without it there is only the first
    /// attempt.
    pub(crate) fn new(parts: http::request::Parts, body: ClientBody, keep: Option<usize>) -> Self {
        let Some(limit) = keep else {
            let first = Request::from_parts(parts, RequestBody::streamed(body));
            return Self {
                first: Some(first),
                again: None,
            };
        };
        let head = Head {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
        };
        let (body, recorder) = RequestBody::recorded(body, limit);
        Self {
            first: Some(Request::from_parts(parts, body)),
            again: Some((head, recorder)),
        }
    }

    /// The request to send next: the first, else a replay; `None` when there is
    /// nothing to replay.
    pub(crate) fn next(&mut self) -> Option<Request<RequestBody>> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        let (head, recorder) = self.again.as_ref()?;
        let mut request = Request::new(recorder.replay()?);
        *request.method_mut() = head.method.clone();
        *request.uri_mut() = head.uri.clone();
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers.clone();
        Some(request)
    }

    /// Whether another attempt can be made: the first is unsent, or the body was
    /// recorded whole.
    pub(crate) fn replayable(&self) -> bool {
        self.first.is_some() || self.again.as_ref().is_some_and(|(_, r)| r.complete())
    }
}
