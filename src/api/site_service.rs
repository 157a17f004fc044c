//! SiteService: the site as the gateway's site file describes it, so the
//! cloud can validate a task before it sends it (which locations and
//! patterns exist, which routes serve which kinds between which zones, which
//! devices and commands) without a copy of the site file.

use std::collections::BTreeSet;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::pb;
use crate::engine::site::{LocationKind, Site};

#[derive(Clone)]
pub struct SiteApi {
    site: Arc<pb::Site>,
}

impl std::fmt::Debug for SiteApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteApi").finish_non_exhaustive()
    }
}

impl SiteApi {
    /// The answer is built once: the site does not change while the
    /// gateway runs.
    pub fn new(site: &Site, journal_id: &str) -> SiteApi {
        SiteApi {
            site: Arc::new(site_to_pb(site, journal_id)),
        }
    }
}

fn site_to_pb(site: &Site, journal_id: &str) -> pb::Site {
    let locations = site
        .locations
        .iter()
        .map(|l| pb::SiteLocation {
            id: l.id.clone(),
            pattern: l.is_prefix,
            kind: match l.kind {
                LocationKind::Storage => "storage",
                LocationKind::Station => "station",
                LocationKind::Port => "port",
                LocationKind::Buffer => "buffer",
            }
            .to_string(),
            zone: l.zone.clone(),
        })
        .collect();
    let routes = site
        .routes
        .iter()
        .map(|r| pb::SiteRoute {
            id: r.id.clone(),
            kind: r.kind.to_string(),
            from_zone: r.from_zone.clone(),
            to_zone: r.to_zone.clone(),
            steps: r
                .steps
                .iter()
                .map(|s| pb::SiteRouteStep {
                    device_kind: s.device_kind.as_str().to_string(),
                    command: s.command.clone(),
                    devices: if s.devices.is_empty() {
                        site.devices
                            .values()
                            .filter(|d| d.kind == s.device_kind)
                            .map(|d| d.id.clone())
                            .collect()
                    } else {
                        s.devices.clone()
                    },
                })
                .collect(),
        })
        .collect();
    let devices = site
        .devices
        .values()
        .map(|d| {
            let commands: BTreeSet<String> = site
                .routes
                .iter()
                .flat_map(|r| &r.steps)
                .filter(|s| {
                    s.device_kind == d.kind && (s.devices.is_empty() || s.devices.contains(&d.id))
                })
                .map(|s| s.command.clone())
                .collect();
            pb::SiteDevice {
                device_id: d.id.clone(),
                kind: d.kind.as_str().to_string(),
                profile: d.profile.clone(),
                commands: commands.into_iter().collect(),
            }
        })
        .collect();
    let layout = site.layout.as_ref().map(|l| pb::SiteLayout {
        nodes: l.node_count() as u32,
        edges: l.edge_count() as u32,
    });
    pb::Site {
        name: site.name.clone(),
        locations,
        routes,
        devices,
        layout,
        journal_id: journal_id.to_string(),
    }
}

#[tonic::async_trait]
impl pb::site_service_server::SiteService for SiteApi {
    async fn get_site(
        &self,
        _req: Request<pb::GetSiteRequest>,
    ) -> Result<Response<pb::Site>, Status> {
        Ok(Response::new((*self.site).clone()))
    }
}
