//! The rmqtt adapter: cistern's standalone broker. rmqtt (pinned) speaks
//! MQTT 3.1, 3.1.1 and 5 on the listener; its hooks become our events.

mod away;
mod control;
mod convert;
mod feed;
mod hooks;
mod live;
mod order;
mod restore;
mod retain;
mod retained_properties;
mod sessions;
mod takeover;

use std::sync::Arc;

use rmqtt::context::ServerContext;
use rmqtt::hook::Type;
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;

use crate::config::CisternConfig;
use crate::runtime::Runtime;

/// Runs the broker until it fails.
pub async fn serve(runtime: Arc<Runtime>, config: &CisternConfig) -> anyhow::Result<()> {
    // Several QoS 1 publishes of a connection stored at once (rmqtt's patch,
    // patches/rmqtt-0.24.0): each still acknowledged and forwarded in order.
    let scx = ServerContext::new().publish_hooks_in_flight(config.publishes_in_flight.into()).build().await;
    let pending = Arc::new(restore::Pending::default());
    let resume = Arc::new(restore::Restore::new(runtime.clone(), pending.clone(), config.node.clone()));
    *scx.extends.shared_mut().await = Box::new(takeover::Takeover::new(&scx, resume.clone()));
    runtime.control.attach(Arc::new(control::Control::new(scx.clone())));
    let outbox_dir = runtime.loaded().config.cistern.outbox.dir.clone();
    let properties = Arc::new(
        retained_properties::RetainedProperties::open(&outbox_dir)
            .map_err(|e| anyhow::anyhow!("retained messages' MQTT 5 properties: {e}"))?,
    );
    *scx.extends.retain_mut().await = Box::new(retain::Retainer::new(runtime.clone(), properties.clone()));
    *scx.extends.session_mgr_mut().await = Box::new(restore::Restorer::new(pending.clone()));
    let adapter = Arc::new(hooks::Adapter::new(runtime, scx.clone(), config.node.clone(), pending, resume, properties));
    let register = scx.extends.hook_mgr().register();
    for hook in [
        Type::ClientConnect,
        Type::ClientConnected,
        Type::ClientDisconnected,
        Type::SessionCreated,
        Type::SessionSubscribed,
        Type::SessionUnsubscribed,
        Type::SessionTerminated,
        Type::MessagePublish,
        Type::MessagePublishCheckAcl,
        Type::MessageDelivered,
        Type::MessageAcked,
        Type::MessageDropped,
        Type::MessageExpiryCheck,
        Type::OfflineMessage,
        Type::OfflineInflightMessages,
    ] {
        register.add(hook, Box::new(hooks::Handler(adapter.clone()))).await;
    }
    register.start().await;

    let listener = Builder::new()
        .name("tcp")
        .laddr(config.listener)
        // A restarted broker must bind while its last connections sit in TIME_WAIT.
        .reuseaddr(Some(true))
        .max_mqueue_len(config.max_mqueue_len)
        .max_packet_size(config.max_packet_size)
        .session_expiry_interval(config.session_expiry)
        // Queued messages live as long as their session, so a client that
        // resumes its session gets them from the broker, not lost to expiry.
        .message_expiry_interval(config.session_expiry)
        .bind()
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listener))?
        .tcp()
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listener))?;
    tracing::info!(listener = %config.listener, "MQTT broker listening");
    MqttServer::new(scx).listener(listener).build().run().await.map_err(|e| anyhow::anyhow!("broker stopped: {e}"))
}
