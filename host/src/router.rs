//! Routes an event to its actions: by hook point, then by the configured
//! topic filter, in configuration order.

use std::collections::HashMap;
use std::sync::Arc;

use crate::actions::{Action, ActionKind};
use crate::model::HookPoint;

struct Route {
    filter: String,
    action: Arc<Action>,
}

#[derive(Default)]
pub struct Router {
    routes: HashMap<HookPoint, Vec<Route>>,
}

impl Router {
    /// Adds an action after those already there.
    pub fn add(&mut self, point: HookPoint, filter: String, action: Arc<Action>) {
        self.routes.entry(point).or_default().push(Route { filter, action });
    }

    /// The actions for an event at `point` about `topic`. Client events have
    /// no topic and reach every action of their point; a subscription's
    /// filter reaches the actions whose filter covers it (`queue/+` reaches
    /// `queue/#`); a message's topic, those whose filter matches it.
    pub fn actions<'a>(
        &'a self,
        point: HookPoint,
        topic: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Arc<Action>> + 'a {
        self.routes.get(&point).into_iter().flatten().filter_map(move |r| {
            let hit = match (topic, point) {
                (None, _) => true,
                (Some(t), HookPoint::SessionSubscribed | HookPoint::SessionUnsubscribed) => {
                    cistern_topic::covers(&r.filter, t)
                }
                (Some(t), _) => cistern_topic::matches(&r.filter, t),
            };
            hit.then_some(&r.action)
        })
    }

    /// Whether an event at `point` about `topic` reaches a guest action
    /// running `function` (of any backend's guest).
    pub fn reaches_function(&self, point: HookPoint, topic: &str, function: &str) -> bool {
        self.actions(point, Some(topic))
            .any(|a| matches!(&a.kind, ActionKind::Guest { ctx, .. } if ctx.function == function))
    }

    pub fn is_empty(&self) -> bool {
        self.routes.values().all(Vec::is_empty)
    }
}
