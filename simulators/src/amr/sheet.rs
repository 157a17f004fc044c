//! The factsheet a simulated robot publishes on `factsheetRequest`.

use floorgate_protocols::vda5050::factsheet::{
    ActionScope, AgvAction, MaxArrayLens, PhysicalParameters, ProtocolFeatures, ProtocolLimits,
    Timing, TypeSpecification,
};
use floorgate_protocols::vda5050::{Factsheet, TopicKind};
use serde_json::{json, Map, Value};

use super::robot::Robot;

/// The most nodes the simulated robots take in one order message.
pub const MAX_ORDER_NODES: u32 = 256;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Robot {
    /// The factsheet message, stamped with the next `factsheet` header.
    pub fn factsheet_message(&mut self) -> Factsheet {
        let header = self.next_header(TopicKind::Factsheet);
        let cfg = self.config();
        let mut agv_actions: Vec<AgvAction> = cfg
            .supported_actions
            .iter()
            .map(|t| AgvAction {
                action_type: t.clone(),
                action_description: None,
                action_scopes: vec![ActionScope::Node],
                action_parameters: None,
                result_description: None,
            })
            .collect();
        agv_actions.extend(cfg.instant_actions.iter().map(|t| AgvAction {
            action_type: t.to_string(),
            action_description: None,
            action_scopes: vec![ActionScope::Instant],
            action_parameters: None,
            result_description: None,
        }));
        Factsheet {
            header_id: Some(header.header_id),
            timestamp: Some(header.timestamp),
            version: header.version,
            manufacturer: header.manufacturer,
            serial_number: header.serial_number,
            type_specification: TypeSpecification {
                series_name: "floorgate-sim".into(),
                series_description: Some("simulated load carrier".into()),
                agv_kinematic: "DIFF".into(),
                agv_class: "CARRIER".into(),
                max_load_mass: 50.0,
                localization_types: vec!["NATURAL".into()],
                navigation_types: vec!["AUTONOMOUS".into()],
            },
            physical_parameters: PhysicalParameters {
                speed_min: 0.0,
                speed_max: cfg.speed,
                acceleration_max: 1.0,
                deceleration_max: 1.0,
                height_min: Some(0.2),
                height_max: 0.5,
                width: 0.6,
                length: 0.8,
            },
            protocol_limits: ProtocolLimits {
                max_string_lens: Map::new(),
                max_array_lens: MaxArrayLens {
                    order_nodes: Some(MAX_ORDER_NODES),
                    order_edges: Some(MAX_ORDER_NODES - 1),
                    ..MaxArrayLens::default()
                },
                timing: Timing {
                    min_order_interval: 0.0,
                    min_state_interval: 0.0,
                    default_state_interval: Some(30.0),
                    visualization_interval: None,
                },
            },
            protocol_features: ProtocolFeatures {
                optional_parameters: vec![],
                agv_actions,
            },
            agv_geometry: Map::new(),
            load_specification: object(json!({ "loadPositions": ["default"] })),
            other: Map::new(),
        }
    }
}
