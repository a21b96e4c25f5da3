//! The engine's MQTT broker source ([`crate::discovery::mqtt`]): devices
//! whose retained state says online join like confirmed ones (recorded
//! with source `mqtt`), their telemetry feeds the same metrics, store and
//! liveness path as a poll (they are not polled over HTTP), and a retained
//! "offline" (the agent's last will, or its goodbye) marks them Offline at
//! once. A broker that is down is logged and retried; nothing known is
//! dropped.

use super::events::{Event, LogLevel};
use super::tracker::Cause;
use super::{Engine, Internal};
use crate::discovery::mqtt::{BrokerEvent, BrokerSpec, BrokerWatch, found_from_state};
use crate::liveness::now_ms;

impl Engine {
    /// Watch `spec`'s fleet from now on (`None`: stop watching).
    pub(super) fn set_broker(&mut self, spec: Option<BrokerSpec>) {
        if let Some(old) = self.broker.take() {
            old.stop();
        }
        self.directory.set_broker_link(None);
        let Some(spec) = spec else {
            self.sink.send(Event::Broker(None));
            return self.sink.log(LogLevel::Info, "broker discovery off");
        };
        let to_loop = self.int_tx.clone();
        // The loop gone means the engine is stopping: nothing to forward to.
        let watch = BrokerWatch::start(&spec, move |ev| drop(to_loop.send(Internal::Broker(ev))));
        self.sink.log(LogLevel::Info, format!("watching fleet {} on broker {}", spec.fleet, spec.addr));
        self.sink.send(Event::Broker(Some(crate::broker_link::BrokerStatus::Connecting)));
        self.directory.set_broker_link(Some(watch.link()));
        self.broker = Some(watch);
    }

    pub(super) fn broker_event(&mut self, event: BrokerEvent) {
        let broker = self.broker.as_ref().map(|b| b.spec().addr.to_string()).unwrap_or_default();
        match event {
            BrokerEvent::Connected => self.sink.log(LogLevel::Info, format!("broker {broker}: connected")),
            BrokerEvent::Status(status) => self.sink.send(Event::Broker(Some(status))),
            // Another console's rollout: recorded read-only beside ours.
            BrokerEvent::Rollout(report) => {
                if let Some(w) = &self.writer {
                    let sink = self.sink.clone();
                    w.submit(move |s| {
                        let id = s.record_remote_deployment(&report)?;
                        sink.send(Event::RemoteRollout { console_id: report.console_id.clone(), deployment_id: id });
                        Ok(())
                    });
                }
            }
            BrokerEvent::Down(why) => self.sink.log(
                LogLevel::Error,
                format!("broker {broker}: {why}; retrying with backoff (known devices are kept)"),
            ),
            BrokerEvent::State { device_id, state } => {
                let token = self.tokens.get(&device_id).cloned().or_else(|| self.config.default_token.clone());
                match found_from_state(&state, token.is_some()) {
                    Some(found) => self.confirmed(found, token),
                    None => {
                        if let Some(mut change) = self.liveness.goodbye(&device_id) {
                            change.cause = Cause::LastWill;
                            self.apply(change);
                        }
                    }
                }
            }
            BrokerEvent::Telemetry { device_id, metrics } => {
                if !self.devices.contains_key(&device_id) {
                    return;
                }
                if let Some(w) = &self.writer {
                    let sample = super::telemetry_sample(&metrics);
                    let (id, bucket) = (device_id.clone(), self.config.telemetry_bucket_ms);
                    w.submit(move |s| s.record_telemetry(&id, &sample, bucket));
                }
                // No round trip was measured: NaN, which readers skip.
                self.sink.send(Event::Metrics { device_id: device_id.clone(), metrics, rtt_ms: f64::NAN });
                if let Some(change) = self.liveness.heartbeat(&device_id, now_ms()) {
                    self.apply(change);
                }
            }
            BrokerEvent::Reply { device_id, reply } => {
                if let Some(p) = reply.progress {
                    let pct = p.received_bytes as f64 * 100.0 / p.total_bytes.max(1) as f64;
                    let line = format!(
                        "{device_id}: broker command {}: {} of {} bytes ({pct:.0}%)",
                        reply.id, p.received_bytes, p.total_bytes
                    );
                    return self.sink.log(LogLevel::Info, line);
                }
                let (level, outcome) = match (&reply.ok, &reply.error) {
                    (true, _) => (LogLevel::Info, "done".to_owned()),
                    (false, Some(e)) => (LogLevel::Warn, format!("{}: {}", e.error, e.detail)),
                    (false, None) => (LogLevel::Warn, "failed".to_owned()),
                };
                self.sink.log(level, format!("{device_id}: broker command {} {outcome}", reply.id));
            }
        }
    }
}
