use super::*;
use crate::desired::derive;
use crate::topology;

fn desired(example: &str) -> Desired {
    let path = format!("{}/examples/{example}.yaml", env!("CARGO_MANIFEST_DIR"));
    let loaded = topology::load_file(Path::new(&path)).expect("example is valid");
    derive(&loaded.topology, None)
}

#[test]
fn renders_every_example_deterministically() {
    for ex in ["seed", "ptu-spillover", "multi-model"] {
        let d = desired(ex);
        for p in &d.policies {
            let a = render_api(&d, &p.api, None).unwrap();
            let b = render_api(&d, &p.api, None).unwrap();
            assert_eq!(a, b);
        }
    }
}
