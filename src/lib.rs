//! wsmachine: a sans-IO WebSocket state machine.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod close;
pub mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod error;
pub mod event;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Delivery};
pub use connection::{Connection, FrameHead, Read, Role, State, Timeout};
pub use error::{ProtocolError, SendError};
#[cfg(feature = "alloc")]
pub use event::OwnedEvent;
pub use event::{Chunk, Event, Message, MessageKind};
pub use mask::{ChaChaMask, MaskSource, NoMask};
