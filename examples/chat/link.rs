//! The link to Redis: two threads with the `redis` crate's blocking API, talking to the mio loop
//! through channels and a [`mio::Waker`].
//!
//! - The publisher publishes what local clients say and their joins and leaves (channel
//!   `chat:room:ROOM`, payload `PID KIND REST`), and keeps this process's presence in Redis: a set
//!   `chat:presence:ROOM:PID` per room, rewritten every [`REFRESH`] with a TTL of [`TTL`], so the
//!   members of a process that dies vanish when its keys expire. After each refresh it reads every
//!   process's presence and sends it to the loop.
//! - The subscriber subscribes to the rooms of local clients and to `chat:ctl:PID`, on which the
//!   publisher wakes it when the set of rooms changes (the blocking `get_message` has no other
//!   way to be interrupted). It confirms each room subscription to the loop
//!   ([`FromLink::Subscribed`]), which announces its members only then: Redis keeps nothing
//!   for a channel nobody listens to, so a member announced earlier could be greeted by
//!   another process before this one hears the room, and miss the greeting.
//!
//! Neither retries a failed PUBLISH (it may have been delivered): cross-process delivery is at
//! most once. While Redis is away publishes are dropped (local delivery does not go through
//! Redis); both threads reconnect with backoff and report `Up`/`Down`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::Waker;
use redis::Commands;

/// How often presence keys are rewritten (and everyone's presence read back).
pub const REFRESH: Duration = Duration::from_secs(2);
/// Presence keys live this long without a refresh.
pub const TTL: Duration = Duration::from_secs(6);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// To the publisher.
pub enum PubCmd {
    Publish {
        room: String,
        payload: Vec<u8>,
    },
    /// This process's members of `room` now (empty: none).
    Presence {
        room: String,
        names: Vec<String>,
    },
    /// Wake the subscriber: its room set changed.
    Wake,
}

/// To the subscriber.
pub enum SubCmd {
    /// Subscribe to a room; `seq` comes back in [`FromLink::Subscribed`].
    Subscribe {
        room: String,
        seq: u64,
    },
    Unsubscribe(String),
}

/// From either thread to the loop.
pub enum FromLink {
    /// The publisher (`false`) or subscriber (`true`) is connected (and, for the subscriber,
    /// subscribed to every room).
    Up {
        subscriber: bool,
    },
    Down {
        subscriber: bool,
    },
    Message {
        room: String,
        payload: Vec<u8>,
    },
    /// Redis has acknowledged the subscription to `room` asked for by the `Subscribe` numbered
    /// `seq` (sent again for every room after the subscriber reconnects).
    Subscribed {
        room: String,
        seq: u64,
    },
    /// Every process's members of each room that has any (this process's included). `additive`
    /// within [`TTL`] of a reconnection: the other processes may not have rewritten their keys
    /// into a restarted Redis yet, so a process missing from it is not gone (no false leaves).
    Presence {
        all: HashMap<String, HashMap<String, BTreeSet<String>>>,
        additive: bool,
    },
}

pub struct Link {
    pub to_pub: Sender<PubCmd>,
    pub to_sub: Sender<SubCmd>,
    pub from: Receiver<FromLink>,
}

impl Link {
    pub fn start(url: &str, pid: &str, waker: Arc<Waker>) -> redis::RedisResult<Link> {
        let client = redis::Client::open(url)?;
        let (to_pub, pub_rx) = mpsc::channel();
        let (to_sub, sub_rx) = mpsc::channel();
        let (tx, from) = mpsc::channel();
        let up = Notify { tx: tx.clone(), waker: waker.clone() };
        let (c, p) = (client.clone(), pid.to_string());
        thread::Builder::new().name("redis-pub".into()).spawn(move || publisher(c, p, pub_rx, up))?;
        let down = Notify { tx, waker };
        let p = pid.to_string();
        thread::Builder::new().name("redis-sub".into()).spawn(move || subscriber(client, p, sub_rx, down))?;
        Ok(Link { to_pub, to_sub, from })
    }
}

struct Notify {
    tx: Sender<FromLink>,
    waker: Arc<Waker>,
}

impl Notify {
    /// False when the loop is gone (the thread ends).
    fn send(&self, msg: FromLink) -> bool {
        let ok = self.tx.send(msg).is_ok();
        let _ = self.waker.wake();
        ok
    }
}

fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

fn presence_key(room: &str, pid: &str) -> String {
    format!("chat:presence:{room}:{pid}")
}

fn publisher(client: redis::Client, pid: String, rx: Receiver<PubCmd>, notify: Notify) {
    let mut presence: HashMap<String, Vec<String>> = HashMap::new();
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut con = match connect(&client).and_then(|c| c.set_read_timeout(Some(IO_TIMEOUT)).map(|_| c)) {
            Ok(c) => c,
            Err(_) => {
                // Drop publishes while Redis is away; keep the latest presence.
                let until = Instant::now() + backoff;
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    match rx.recv_timeout(left) {
                        Ok(PubCmd::Presence { room, names }) => {
                            presence.insert(room, names);
                        }
                        Ok(_) => {}
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        let connected = Instant::now();
        // Presence first, so that the loop hears "up" with fresh presence behind it.
        if refresh(&mut con, &pid, &mut presence, &notify, connected.elapsed() < TTL).is_err() {
            continue;
        }
        if !notify.send(FromLink::Up { subscriber: false }) {
            return;
        }
        let mut next = Instant::now() + REFRESH;
        // Rooms whose presence changed and is not written yet: written once the queue is empty,
        // so that a burst of joins costs one write per room, not one per join.
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let result = loop {
            let wait = next.saturating_duration_since(Instant::now());
            let wait = if dirty.is_empty() { wait } else { Duration::ZERO };
            let cmd = match rx.recv_timeout(wait) {
                Ok(cmd) => cmd,
                Err(RecvTimeoutError::Timeout) if !dirty.is_empty() => {
                    match write_presence(&mut con, &pid, &presence, std::mem::take(&mut dirty)) {
                        Ok(()) => continue,
                        Err(e) => break e,
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    next = Instant::now() + REFRESH;
                    match refresh(&mut con, &pid, &mut presence, &notify, connected.elapsed() < TTL) {
                        Ok(()) => continue,
                        Err(e) => break e,
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let sent = match cmd {
                PubCmd::Publish { room, payload } => {
                    redis::cmd("PUBLISH").arg(format!("chat:room:{room}")).arg(payload).query::<i64>(&mut con)
                }
                PubCmd::Presence { room, names } => {
                    dirty.insert(room.clone());
                    presence.insert(room, names);
                    Ok(0)
                }
                PubCmd::Wake => redis::cmd("PUBLISH").arg(format!("chat:ctl:{pid}")).arg("wake").query::<i64>(&mut con),
            };
            if let Err(e) = sent {
                break e;
            }
        };
        eprintln!("redis publisher: {result}; reconnecting");
        if !notify.send(FromLink::Down { subscriber: false }) {
            return;
        }
    }
}

/// Rewrites this process's presence keys of `rooms` (one transaction): a set of names with a TTL,
/// or no key for a room without local members.
fn write_presence(
    con: &mut redis::Connection,
    pid: &str,
    presence: &HashMap<String, Vec<String>>,
    rooms: BTreeSet<String>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for room in rooms {
        let key = presence_key(&room, pid);
        pipe.del(&key).ignore();
        if let Some(names) = presence.get(&room).filter(|n| !n.is_empty()) {
            pipe.sadd(&key, names).ignore().pexpire(&key, TTL.as_millis() as i64).ignore();
        }
    }
    pipe.query::<()>(con)
}

/// Rewrites this process's presence keys, then reads everyone's and reports it.
fn refresh(
    con: &mut redis::Connection,
    pid: &str,
    presence: &mut HashMap<String, Vec<String>>,
    notify: &Notify,
    additive: bool,
) -> redis::RedisResult<()> {
    write_presence(con, pid, presence, presence.keys().cloned().collect())?;
    presence.retain(|_, names| !names.is_empty());
    // SCAN, not KEYS: Redis stays responsive with many keys.
    let keys: Vec<String> = con.scan_match("chat:presence:*")?.collect::<redis::RedisResult<_>>()?;
    let mut all: HashMap<String, HashMap<String, BTreeSet<String>>> = HashMap::new();
    for key in keys {
        let Some((room, proc_id)) = key.trim_start_matches("chat:presence:").rsplit_once(':') else { continue };
        let names: BTreeSet<String> = redis::cmd("SMEMBERS").arg(&key).query(con)?;
        all.entry(room.to_string()).or_default().insert(proc_id.to_string(), names);
    }
    notify.send(FromLink::Presence { all, additive });
    Ok(())
}

fn subscriber(client: redis::Client, pid: String, rx: Receiver<SubCmd>, notify: Notify) {
    let ctl = format!("chat:ctl:{pid}");
    // Each room subscribed to, with the number of the `Subscribe` that asked for it.
    let mut rooms: BTreeMap<String, u64> = BTreeMap::new();
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut con = match connect(&client) {
            Ok(c) => c,
            Err(_) => {
                thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        let mut pubsub = con.as_pubsub();
        let setup = (|| {
            pubsub.subscribe(&ctl)?;
            apply(&rx, &mut rooms, None)?;
            for room in rooms.keys() {
                pubsub.subscribe(format!("chat:room:{room}"))?;
            }
            Ok::<(), redis::RedisError>(())
        })();
        if let Err(e) = setup {
            eprintln!("redis subscriber: {e}");
            continue;
        }
        for (room, &seq) in &rooms {
            if !notify.send(FromLink::Subscribed { room: room.clone(), seq }) {
                return;
            }
        }
        if !notify.send(FromLink::Up { subscriber: true }) {
            return;
        }
        let error = loop {
            let msg = match pubsub.get_message() {
                Ok(msg) => msg,
                Err(e) => break e,
            };
            let channel = msg.get_channel_name();
            if channel == ctl {
                match apply(&rx, &mut rooms, Some(&mut pubsub)) {
                    Ok(subscribed) => {
                        for (room, seq) in subscribed {
                            if !notify.send(FromLink::Subscribed { room, seq }) {
                                return;
                            }
                        }
                    }
                    Err(e) => break e,
                }
            } else if let Some(room) = channel.strip_prefix("chat:room:") {
                let payload = msg.get_payload_bytes().to_vec();
                if !notify.send(FromLink::Message { room: room.to_string(), payload }) {
                    return;
                }
            }
        };
        drop(pubsub);
        eprintln!("redis subscriber: {error}; reconnecting");
        if !notify.send(FromLink::Down { subscriber: true }) {
            return;
        }
    }
}

/// Takes the queued room changes; with a live connection, (un)subscribes at once and returns
/// the subscriptions Redis acknowledged that still stand (each with its `Subscribe`'s number).
fn apply(
    rx: &Receiver<SubCmd>,
    rooms: &mut BTreeMap<String, u64>,
    mut pubsub: Option<&mut redis::PubSub<'_>>,
) -> redis::RedisResult<Vec<(String, u64)>> {
    let mut subscribed = Vec::new();
    while let Ok(cmd) = rx.try_recv() {
        match cmd {
            SubCmd::Subscribe { room, seq } => {
                let new = rooms.insert(room.clone(), seq).is_none();
                if let Some(p) = pubsub.as_deref_mut() {
                    if new {
                        p.subscribe(format!("chat:room:{room}"))?;
                    }
                    subscribed.push((room, seq));
                }
            }
            SubCmd::Unsubscribe(room) => {
                if rooms.remove(&room).is_some() {
                    if let Some(p) = pubsub.as_deref_mut() {
                        p.unsubscribe(format!("chat:room:{room}"))?;
                    }
                }
            }
        }
    }
    subscribed.retain(|(room, seq)| rooms.get(room) == Some(seq));
    Ok(subscribed)
}
