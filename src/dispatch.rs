//! What an event asks for, dispatched: a notification or the schedule syncs with the document
//! (`sync`); a launch or a tag attaches the managed groups to the new target (`attach`), without a
//! document. Above both, so that neither knows the other; the CLI's `--event` and the function share it.

use crate::attach;
use crate::aws::Clients;
use crate::config::Config;
use crate::event::Event;
use crate::kind::Mode;
use crate::load::Input;
use crate::outcome::{Outcome, RunError};
use crate::sync;

/// Handles an event as the function does.
pub async fn run_event(
    config: &Config,
    clients: &Clients,
    event: &Event,
    mode: Mode,
) -> Result<Outcome, RunError> {
    match (Input::for_event(event), event) {
        (Some(input), _) => sync::run(config, clients, &input, mode).await,
        (None, Event::Instance(e)) => attach::on_instance(config, clients, e, mode).await,
        (None, Event::Tag(e)) => attach::on_tag(config, clients, e, mode).await,
        (None, Event::GroupsSet(e)) => attach::on_groups_set(config, clients, e, mode).await,
        (None, _) => unreachable!("every other event names a document"),
    }
}
