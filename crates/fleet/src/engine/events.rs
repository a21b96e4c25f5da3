//! What the engine reports: [`Event`]s and the vocabulary they carry
//! (devices, log lines, job updates), and the sending half of the event
//! channel. Jobs report through the same channel, so this file sits below
//! both the jobs and the commands that start them.

use crate::liveness::now_ms;
use crate::scan::Source;
use edgefleet_core::wire::{Metrics, ModelEntry};
use edgefleet_core::{Device, DeviceStatus};
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};

/// A device as the engine knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSnapshot {
    pub device: Device,
    pub addr: SocketAddr,
    pub source: Source,
    pub paired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub at_ms: u64,
    pub level: LogLevel,
    pub message: String,
}

/// Names one job for its whole life, so two jobs with the same title stay
/// apart. [`crate::FleetEngine::start_job`] hands them out, unique per engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Running,
    Done(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobUpdate {
    pub id: JobId,
    pub title: String,
    /// 0..=1, or `None` when unknown.
    pub progress: Option<f32>,
    pub message: String,
    pub state: JobState,
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A device joined or its description changed (boxed: a device
    /// description is several times larger than any other event).
    Device(Box<DeviceSnapshot>),
    Status {
        device_id: String,
        status: DeviceStatus,
    },
    Metrics {
        device_id: String,
        metrics: Metrics,
        /// How long the metrics call took, ms: the console's round-trip
        /// time to the device (the network part of total latency).
        rtt_ms: f64,
    },
    Models {
        device_id: String,
        models: Vec<ModelEntry>,
    },
    Log(LogEntry),
    Job(JobUpdate),
    /// A sweep's progress (sent at most every 100 ms, and at its end).
    Sweep {
        progress: crate::sweep::SweepProgress,
        finished: bool,
    },
    /// The broker connection's status (`None`: no broker is set).
    Broker(Option<crate::broker_link::BrokerStatus>),
    /// Another console's rollout was recorded (as `deployment_id` here).
    RemoteRollout {
        console_id: String,
        deployment_id: i64,
    },
}

/// The sending half of the event channel: sends, then wakes the receiver
/// (the GUI passes `request_repaint`).
#[derive(Clone)]
pub(crate) struct EventSink {
    tx: mpsc::Sender<Event>,
    notify: Arc<dyn Fn() + Send + Sync>,
}

impl EventSink {
    pub(crate) fn new(tx: mpsc::Sender<Event>, notify: Arc<dyn Fn() + Send + Sync>) -> Self {
        EventSink { tx, notify }
    }

    pub(crate) fn send(&self, e: Event) {
        // The receiver gone means the app is closing: nothing left to tell.
        let _ = self.tx.send(e);
        (self.notify)();
    }

    /// Write a line to the event log (and to tracing, for headless runs).
    pub(crate) fn log(&self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        match level {
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
        self.send(Event::Log(LogEntry { at_ms: now_ms(), level, message }));
    }
}
