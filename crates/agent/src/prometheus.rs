//! `/metrics`: the `/v1/metrics` sample in Prometheus text exposition format.

use edgefleet_core::wire::Metrics;
use std::fmt::Write;

/// Escape a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn gauge(out: &mut String, name: &str, help: &str, kind: &str, device: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{device=\"{device}\"}} {value}");
}

/// Render one sample; `gflops` is the start-up benchmark result.
pub fn render(device_id: &str, metrics: &Metrics, gflops: Option<f64>) -> String {
    let d = label(device_id);
    let mut out = String::with_capacity(2048);
    gauge(&mut out, "edgefleet_cpu_load", "CPU load (0..1).", "gauge", &d, metrics.cpu_load);
    gauge(&mut out, "edgefleet_memory_used_mb", "Memory in use (MB).", "gauge", &d, metrics.memory_used_mb as f64);
    gauge(&mut out, "edgefleet_memory_total_mb", "Installed memory (MB).", "gauge", &d, metrics.memory_total_mb as f64);
    gauge(&mut out, "edgefleet_storage_free_gb", "Free storage (GB).", "gauge", &d, metrics.storage_free_gb);
    gauge(&mut out, "edgefleet_uptime_seconds", "Agent uptime (s).", "counter", &d, metrics.uptime_s as f64);
    if let Some(t) = metrics.temperature_c {
        gauge(&mut out, "edgefleet_temperature_celsius", "Hottest sensor (°C).", "gauge", &d, t);
    }
    if let Some(b) = metrics.battery_percent {
        gauge(&mut out, "edgefleet_battery_percent", "Battery charge (%).", "gauge", &d, b);
    }
    if let Some(g) = gflops {
        gauge(&mut out, "edgefleet_gflops", "f32 GFLOP/s of all cores (start-up probe).", "gauge", &d, g);
    }
    let families: [(&str, &str, &str); 7] = [
        ("edgefleet_model_requests_total", "Predict requests served.", "counter"),
        ("edgefleet_model_offloaded_total", "Requests forwarded upstream for low confidence.", "counter"),
        (
            "edgefleet_model_upstream_failures_total",
            "Requests answered locally because the upstream was down.",
            "counter",
        ),
        ("edgefleet_model_rows_local_total", "Rows answered by the local model.", "counter"),
        ("edgefleet_model_rows_upstream_total", "Rows the offload rule sent upstream and it answered.", "counter"),
        ("edgefleet_model_qps", "Requests per second, recent.", "gauge"),
        ("edgefleet_model_latency_ms", "Predict latency quantiles (ms).", "gauge"),
    ];
    for (name, help, kind) in families {
        if metrics.models.is_empty() {
            break;
        }
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for m in &metrics.models {
            let base = format!("device=\"{d}\",model=\"{}\",version=\"{}\"", label(&m.name), label(&m.version));
            let _ = match name {
                "edgefleet_model_requests_total" => writeln!(out, "{name}{{{base}}} {}", m.requests),
                "edgefleet_model_offloaded_total" => writeln!(out, "{name}{{{base}}} {}", m.offloaded),
                "edgefleet_model_upstream_failures_total" => writeln!(out, "{name}{{{base}}} {}", m.upstream_failures),
                "edgefleet_model_rows_local_total" => writeln!(out, "{name}{{{base}}} {}", m.answered_locally),
                "edgefleet_model_rows_upstream_total" => writeln!(out, "{name}{{{base}}} {}", m.sent_upstream),
                "edgefleet_model_qps" => writeln!(out, "{name}{{{base}}} {}", m.qps),
                _ => writeln!(
                    out,
                    "{name}{{{base},quantile=\"0.5\"}} {}\n{name}{{{base},quantile=\"0.99\"}} {}",
                    m.p50_ms, m.p99_ms
                ),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::wire::ModelStats;

    #[test]
    fn renders_gauges_and_model_series() {
        let mut m = Metrics { cpu_load: 0.25, memory_total_mb: 1024, ..Default::default() };
        m.models.push(ModelStats {
            name: "mlp".into(),
            version: "1\"x".into(),
            requests: 7,
            p50_ms: 1.5,
            answered_locally: 9,
            sent_upstream: 4,
            ..Default::default()
        });
        let text = render("dev-1", &m, Some(12.5));
        assert!(text.contains("edgefleet_cpu_load{device=\"dev-1\"} 0.25"), "{text}");
        assert!(text.contains("edgefleet_gflops{device=\"dev-1\"} 12.5"));
        assert!(
            text.contains("edgefleet_model_requests_total{device=\"dev-1\",model=\"mlp\",version=\"1\\\"x\"} 7"),
            "{text}"
        );
        assert!(text.contains("quantile=\"0.5\"} 1.5"));
        assert!(
            text.contains("edgefleet_model_rows_local_total{device=\"dev-1\",model=\"mlp\",version=\"1\\\"x\"} 9"),
            "{text}"
        );
        assert!(
            text.contains("edgefleet_model_rows_upstream_total{device=\"dev-1\",model=\"mlp\",version=\"1\\\"x\"} 4")
        );
        assert!(!text.contains("battery"));
    }
}
