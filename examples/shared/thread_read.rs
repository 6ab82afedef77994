//! One read buffer per runtime thread, shared by every connection served on it (included with
//! `#[path]` by `tokio_echo` and `hyper_server`): the bytes of a read are handed to the engine
//! within the same poll, before the task can wait again, so a task holds no read buffer while
//! it waits and an idle connection keeps its state only. What a frame still misses waits in the
//! connection's `Assembly`.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, ReadBuf};

thread_local! {
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; 64 << 10].into_boxed_slice());
}

/// Reads once from `io` into this thread's buffer and returns what `f` made of the bytes;
/// `None` at end of stream. Dropping the future before it is ready loses no byte: a poll that
/// reads also calls `f`.
pub async fn read_with<IO: AsyncRead + Unpin, T>(
    io: &mut IO,
    mut f: impl FnMut(&mut [u8]) -> T,
) -> io::Result<Option<T>> {
    poll_fn(|cx| {
        READ_BUF.with_borrow_mut(|buf| {
            let mut room = ReadBuf::new(buf);
            match Pin::new(&mut *io).poll_read(cx, &mut room) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = room.filled().len();
                    Poll::Ready(Ok((n > 0).then(|| f(&mut buf[..n]))))
                }
            }
        })
    })
    .await
}
