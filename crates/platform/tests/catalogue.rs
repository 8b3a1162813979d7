//! The catalogue contract, run against both adapters: one test per behaviour, generated for
//! each adapter by `catalogue_test_suite!` (at the end) as `sqlite::NAME`, on a file in a
//! temporary directory, and `postgres::NAME`, on a fresh database. What only one adapter does
//! (migrations, the lease, the audit trail's guards, file modes) has tests of its own.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use custodian_core::cases::CaseState;
use custodian_core::classification::{Categories, Classification};
use custodian_core::deadlines::DeadlineKind;
use custodian_core::records::RecordKind;
use custodian_core::roles::Role;
use custodian_core::upload::UploadMetadata;
use custodian_core::{BureauId, ClipId, ClipState, LocalId, Sha256Digest};
use custodian_platform::catalogue::{
    self, BoundingBox, CaseClosure, CaseFilter, CaseRecord, Catalogue, CatalogueError, ClipFilter,
    ClipSchedule, Device, MediaFacts, NewClip, PendingUpload,
};
use custodian_platform::testing::fresh_postgres_url;
use uuid::Uuid;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 14, hour, 0, 0).unwrap()
}

fn new_clip(bureau: &BureauId, n: u64, device: &str) -> NewClip {
    let id = ClipId::from_parts(1_771_000_000_000 + n, [n as u8; 10]);
    NewClip {
        id,
        meta: UploadMetadata {
            bureau: bureau.clone(),
            device: LocalId::parse("device id", device).unwrap(),
            officer: LocalId::parse("officer id", "031234").unwrap(),
            recorded_at: at(n as u32 % 24),
            original_name: format!("clip-{n}.mp4"),
            case_ref: (n % 2 == 0).then(|| "应急罚〔2026〕12号".to_owned()),
            place: None,
            coordinates: None,
            returned_at: None,
            late_reason: None,
        },
        object_key: format!("originals/{bureau}/{id}.mp4"),
        size_bytes: 1000 + n,
        sha256: Sha256Digest::of(&n.to_le_bytes()),
        received_at: at(n as u32 % 24) + Duration::minutes(30),
        uploaded_by: format!("token {n}"),
    }
}

async fn record(catalogue: &dyn Catalogue, clip: &NewClip) {
    catalogue
        .begin_upload(&PendingUpload {
            clip: clip.id,
            bureau: clip.meta.bureau.clone(),
            object_key: clip.object_key.clone(),
            started_at: clip.received_at,
        })
        .await
        .unwrap();
    catalogue.record_clip(clip).await.unwrap();
}

/// Two bureaus, seven stored clips of b1 (the first four from DSJ-1, the rest from DSJ-2;
/// the even ones name a case) and one of b2.
struct Recorded {
    b1: BureauId,
    b2: BureauId,
    clips: Vec<NewClip>,
    other: NewClip,
}

async fn recorded(catalogue: &dyn Catalogue) -> Recorded {
    let b1 = BureauId::parse("b1").unwrap();
    let b2 = BureauId::parse("b2").unwrap();
    catalogue.ensure_bureau(&b1, "一大队", at(0)).await.unwrap();
    catalogue.ensure_bureau(&b2, "二大队", at(0)).await.unwrap();
    let clips: Vec<NewClip> = (1..=7)
        .map(|n| new_clip(&b1, n, if n <= 4 { "DSJ-1" } else { "DSJ-2" }))
        .collect();
    for clip in &clips {
        record(catalogue, clip).await;
    }
    let other = new_clip(&b2, 50, "DSJ-9");
    record(catalogue, &other).await;
    Recorded {
        b1,
        b2,
        clips,
        other,
    }
}

/// Moves the first clip on to catalogued, at hour 10.
async fn catalogue_first(catalogue: &dyn Catalogue, clips: &[NewClip]) {
    assert!(catalogue
        .transition(
            clips[0].id,
            ClipState::Stored,
            ClipState::Catalogued,
            at(10),
            Some("done")
        )
        .await
        .unwrap());
}

/// Names each clip `DSJ_i` and gives it deadlines: uploads due at hour 0, classification
/// three days on, except the second clip's, due at hour 12.
async fn schedule(catalogue: &dyn Catalogue, clips: &[NewClip]) {
    for (i, clip) in clips.iter().enumerate() {
        let due = if i == 1 {
            at(12)
        } else {
            at(23) + Duration::days(3)
        };
        let schedule = ClipSchedule {
            upload_due: at(0),
            upload_hard_due: at(23) + Duration::days(9),
            classify_due: due,
            calendar_complete: true,
        };
        catalogue
            .set_schedule(clip.id, &format!("DSJ_{i}"), &schedule)
            .await
            .unwrap();
    }
}

/// Classifies the third clip twice: at hour 13 by archivist 1 (important, at 黄岛区), then at
/// hour 14 by archivist 2 (a correction, 行政检查).
async fn classify_third(catalogue: &dyn Catalogue, b1: &BureauId, clips: &[NewClip]) {
    let classification = Classification::new(
        &Categories::default(),
        "现场勘验",
        "油罐区 50%_完成",
        Some("黄岛区"),
        true,
    )
    .unwrap();
    assert!(catalogue
        .classify(
            b1,
            clips[2].id,
            &classification,
            "NAME_IMP",
            "archivist 1",
            at(13)
        )
        .await
        .unwrap());
    let again =
        Classification::new(&Categories::default(), "行政检查", "更正", None, false).unwrap();
    assert!(catalogue
        .classify(b1, clips[2].id, &again, "NAME", "archivist 2", at(14))
        .await
        .unwrap());
}

/// Recycles the first (catalogued) clip and purges it: a tombstone, at `until`.
async fn tombstone_first(catalogue: &dyn Catalogue, clips: &[NewClip]) -> DateTime<Utc> {
    let until = at(5) + Duration::days(7);
    assert!(catalogue
        .recycle(clips[0].id, until, at(7), "ran out")
        .await
        .unwrap());
    assert!(catalogue.mark_purged(clips[0].id, until).await.unwrap());
    until
}

/// Bureaus are created once; tokens are found by their hash, with their bureau and role.
async fn tokens_are_found_by_their_hash(catalogue: Arc<dyn Catalogue>) {
    let b1 = BureauId::parse("b1").unwrap();
    let b2 = BureauId::parse("b2").unwrap();
    catalogue.ensure_bureau(&b1, "一大队", at(0)).await.unwrap();
    catalogue
        .ensure_bureau(&b1, "renamed", at(0))
        .await
        .unwrap();
    catalogue.ensure_bureau(&b2, "二大队", at(0)).await.unwrap();

    let token_id = catalogue
        .insert_token(
            &b1,
            &"a".repeat(64),
            "station",
            Role::Archivist,
            &Default::default(),
            at(0),
        )
        .await
        .unwrap();
    let owner = catalogue
        .token_owner(&"a".repeat(64), at(0))
        .await
        .unwrap()
        .expect("token found");
    assert_eq!(
        (
            owner.bureau,
            owner.role,
            owner.token_id,
            owner.label.as_str()
        ),
        (b1.clone(), Role::Archivist, token_id, "station")
    );
    assert_eq!(
        catalogue.token_owner(&"b".repeat(64), at(0)).await.unwrap(),
        None
    );
    catalogue.ping().await.unwrap();
}

/// The record reads back as written, only in its own bureau.
async fn a_recorded_clip_reads_back_in_its_own_bureau(catalogue: Arc<dyn Catalogue>) {
    let Recorded {
        b1,
        b2,
        clips,
        other,
    } = recorded(&*catalogue).await;
    let got = catalogue
        .clip(&b1, clips[0].id)
        .await
        .unwrap()
        .expect("recorded clip");
    assert_eq!(
        (got.state, got.size_bytes, got.sha256, got.recorded_at),
        (
            ClipState::Stored,
            1001,
            clips[0].sha256,
            clips[0].meta.recorded_at
        )
    );
    assert_eq!(got.original_name, "clip-1.mp4");
    assert!(
        catalogue.clip(&b2, clips[0].id).await.unwrap().is_none(),
        "visible across bureaus"
    );
    assert!(catalogue.clip_for_worker(other.id).await.unwrap().is_some());
}

/// A clip is recorded once; recording needs a pending upload.
async fn a_clip_is_recorded_once_and_only_from_a_pending_upload(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    match catalogue.record_clip(&clips[0]).await {
        Err(CatalogueError::Conflict { .. }) => {}
        other => panic!("second record: {other:?}"),
    }
    let unannounced = new_clip(&b1, 99, "DSJ-1");
    assert!(matches!(
        catalogue.record_clip(&unannounced).await,
        Err(CatalogueError::Conflict { .. })
    ));
    assert!(
        catalogue.clip(&b1, unannounced.id).await.unwrap().is_none(),
        "failed record left a clip"
    );
}

/// Listing: newest first, filtered, paged by cursor, never another bureau's.
async fn clips_are_listed_newest_first_filtered_and_paged(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    let all = catalogue
        .list_clips(&b1, &ClipFilter::default(), 100)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|c| c.id).collect::<Vec<_>>(),
        clips.iter().rev().map(|c| c.id).collect::<Vec<_>>()
    );
    let page1 = catalogue
        .list_clips(&b1, &ClipFilter::default(), 3)
        .await
        .unwrap();
    let page2 = catalogue
        .list_clips(
            &b1,
            &ClipFilter {
                before: Some(page1[2].id),
                ..Default::default()
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|c| c.id).collect::<Vec<_>>(),
        all[3..6].iter().map(|c| c.id).collect::<Vec<_>>()
    );
    let dsj2 = catalogue
        .list_clips(
            &b1,
            &ClipFilter {
                device: Some("DSJ-2".into()),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(dsj2.len(), 3);
    let case = catalogue
        .list_clips(
            &b1,
            &ClipFilter {
                case_ref: Some("应急罚〔2026〕12号".into()),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(case.len(), 3);
    let window = ClipFilter {
        recorded_from: Some(at(2)),
        recorded_to: Some(at(5)),
        ..Default::default()
    };
    let in_window = catalogue.list_clips(&b1, &window, 100).await.unwrap();
    assert_eq!(
        in_window.iter().map(|c| c.recorded_at).collect::<Vec<_>>(),
        vec![at(4), at(3), at(2)]
    );
}

/// Transitions: conditional, allowed ones only, each kept in the history.
async fn transitions_are_conditional_and_kept_in_the_history(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    let id = clips[0].id;
    catalogue_first(&*catalogue, &clips).await;
    assert!(
        !catalogue
            .transition(
                id,
                ClipState::Stored,
                ClipState::Catalogued,
                at(11),
                Some("again")
            )
            .await
            .unwrap(),
        "moved twice"
    );
    assert!(
        catalogue
            .transition(id, ClipState::Stored, ClipState::Archived, at(11), None)
            .await
            .is_err(),
        "skipped a state"
    );
    let history = catalogue.transitions(id).await.unwrap();
    assert_eq!(
        history.iter().map(|t| (t.from, t.to)).collect::<Vec<_>>(),
        vec![
            (None, ClipState::Stored),
            (Some(ClipState::Stored), ClipState::Catalogued)
        ]
    );
    let catalogued = catalogue
        .list_clips(
            &b1,
            &ClipFilter {
                state: Some(ClipState::Catalogued),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(catalogued.len(), 1);
}

/// Stuck clips: oldest first; a nudge restarts the clock.
async fn stuck_clips_come_oldest_first_and_a_nudge_restarts_the_clock(
    catalogue: Arc<dyn Catalogue>,
) {
    let Recorded { clips, .. } = recorded(&*catalogue).await;
    catalogue_first(&*catalogue, &clips).await;
    let cutoff = at(23) + Duration::hours(1);
    let stuck = catalogue
        .stuck_clips(ClipState::Stored, cutoff, 100)
        .await
        .unwrap();
    assert_eq!(stuck.len(), 7, "six of b1 and one of b2 are still stored");
    assert!(stuck
        .windows(2)
        .all(|w| w[0].state_changed_at <= w[1].state_changed_at));
    assert_eq!(
        catalogue
            .next_publish_round(stuck[0].id, cutoff)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        catalogue
            .next_publish_round(stuck[0].id, cutoff)
            .await
            .unwrap(),
        2
    );
    let still = catalogue
        .stuck_clips(ClipState::Stored, cutoff, 100)
        .await
        .unwrap();
    assert!(
        !still.iter().any(|c| c.id == stuck[0].id),
        "nudged clip reported again at once"
    );
    let later = catalogue
        .stuck_clips(ClipState::Stored, cutoff + Duration::minutes(1), 100)
        .await
        .unwrap();
    assert!(
        later.iter().any(|c| c.id == stuck[0].id),
        "nudged clip never reported again"
    );
}

/// Pending uploads: stale ones are found; forgetting claims them once.
async fn stale_uploads_are_found_and_claimed_once(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, .. } = recorded(&*catalogue).await;
    let unannounced = new_clip(&b1, 99, "DSJ-1");
    let pending = PendingUpload {
        clip: unannounced.id,
        bureau: b1.clone(),
        object_key: "k".into(),
        started_at: at(1),
    };
    catalogue.begin_upload(&pending).await.unwrap();
    assert_eq!(
        catalogue.stale_uploads(at(2), 10).await.unwrap(),
        vec![pending.clone()]
    );
    assert!(catalogue.stale_uploads(at(1), 10).await.unwrap().is_empty());
    assert!(catalogue.forget_upload(pending.clip).await.unwrap());
    assert!(!catalogue.forget_upload(pending.clip).await.unwrap());
    assert!(
        matches!(
            catalogue.record_clip(&unannounced).await,
            Err(CatalogueError::Conflict { .. })
        ),
        "reclaimed upload recorded"
    );
}

/// Schedules: the name and deadlines are kept; the upload deadlines move once the
/// recording's end is known, only from what they were.
async fn upload_deadlines_move_only_from_what_they_were(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    schedule(&*catalogue, &clips).await;
    let scheduled = catalogue.clip(&b1, clips[1].id).await.unwrap().unwrap();
    assert_eq!(scheduled.canonical_name.as_deref(), Some("DSJ_1"));
    assert_eq!(scheduled.schedule.unwrap().classify_due, at(12));
    let later = at(0) + Duration::seconds(90);
    let hard = at(23) + Duration::days(10);
    assert!(!catalogue
        .move_upload_due(clips[1].id, at(5), later, hard)
        .await
        .unwrap());
    assert!(catalogue
        .move_upload_due(clips[1].id, at(0), later, hard)
        .await
        .unwrap());
    let moved = catalogue.clip(&b1, clips[1].id).await.unwrap().unwrap();
    let moved = moved.schedule.unwrap();
    assert_eq!((moved.upload_due, moved.upload_hard_due), (later, hard));
    assert_eq!(moved.classify_due, at(12), "only the upload deadlines move");
    assert!(!catalogue
        .move_upload_due(clips[1].id, at(0), later, hard)
        .await
        .unwrap());
}

/// A classification is made in the clip's own bureau only; the first one's time and author
/// are kept, and every one is in the history.
async fn classifications_keep_the_first_time_and_every_entry(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, b2, clips, .. } = recorded(&*catalogue).await;
    schedule(&*catalogue, &clips).await;
    let classification = Classification::new(
        &Categories::default(),
        "现场勘验",
        "油罐区 50%_完成",
        Some("黄岛区"),
        true,
    )
    .unwrap();
    assert!(
        !catalogue
            .classify(&b2, clips[2].id, &classification, "X", "intruder", at(13))
            .await
            .unwrap(),
        "classified across bureaus"
    );
    classify_third(&*catalogue, &b1, &clips).await;
    let classified = catalogue.clip(&b1, clips[2].id).await.unwrap().unwrap();
    assert_eq!(
        (
            classified.category.as_deref(),
            classified.place.as_deref(),
            classified.important
        ),
        (Some("行政检查"), Some("黄岛区"), false)
    );
    assert_eq!(
        (
            classified.classified_at,
            classified.classified_by.as_deref()
        ),
        (Some(at(13)), Some("archivist 1")),
        "first classification is when it was done"
    );
    let history = catalogue.classifications(clips[2].id).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.by.as_str()).collect::<Vec<_>>(),
        ["archivist 1", "archivist 2"]
    );
}

/// Search: by category, by text in names and descriptions (LIKE's wildcards taken
/// literally), by whether a clip is classified, and by an overdue classification.
async fn clips_are_found_by_category_text_and_overdue_classification(
    catalogue: Arc<dyn Catalogue>,
) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    schedule(&*catalogue, &clips).await;
    classify_third(&*catalogue, &b1, &clips).await;
    let search = |filter: ClipFilter| {
        let catalogue = catalogue.clone();
        let b1 = b1.clone();
        async move {
            catalogue
                .list_clips(&b1, &filter, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search(ClipFilter {
            category: Some("行政检查".into()),
            ..Default::default()
        })
        .await,
        vec![clips[2].id]
    );
    assert_eq!(
        search(ClipFilter {
            text: Some("更正".into()),
            ..Default::default()
        })
        .await,
        vec![clips[2].id]
    );
    assert_eq!(
        search(ClipFilter {
            text: Some("clip-5".into()),
            ..Default::default()
        })
        .await,
        vec![clips[4].id]
    );
    assert_eq!(
        search(ClipFilter {
            text: Some("dsj_4".into()),
            ..Default::default()
        })
        .await,
        vec![clips[4].id],
        "canonical names are searchable"
    );
    assert!(
        search(ClipFilter {
            text: Some("%".into()),
            ..Default::default()
        })
        .await
        .is_empty(),
        "a wildcard matched"
    );
    assert_eq!(
        search(ClipFilter {
            classified: Some(true),
            ..Default::default()
        })
        .await,
        vec![clips[2].id]
    );
    assert_eq!(
        search(ClipFilter {
            classification_overdue_at: Some(at(12)),
            ..Default::default()
        })
        .await,
        vec![clips[1].id]
    );
    assert!(search(ClipFilter {
        classification_overdue_at: Some(at(11)),
        ..Default::default()
    })
    .await
    .is_empty());
}

/// Places: a clip with coordinates is found in its box only, and by its place's name.
async fn placed_clips_are_found_in_their_box(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, .. } = recorded(&*catalogue).await;
    let search = |filter: ClipFilter| {
        let catalogue = catalogue.clone();
        let b1 = b1.clone();
        async move {
            catalogue
                .list_clips(&b1, &filter, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    let mut placed = new_clip(&b1, 60, "DSJ-3");
    placed.meta.place = Some("市南区".into());
    placed.meta.coordinates = Some(custodian_core::upload::Coordinates {
        latitude: 36.07,
        longitude: 120.38,
    });
    record(&*catalogue, &placed).await;
    let qingdao = BoundingBox {
        min_lat: 35.5,
        min_lon: 119.5,
        max_lat: 36.5,
        max_lon: 121.0,
    };
    assert_eq!(
        search(ClipFilter {
            within: Some(qingdao),
            ..Default::default()
        })
        .await,
        vec![placed.id]
    );
    let jinan = BoundingBox {
        min_lat: 36.5,
        min_lon: 116.5,
        max_lat: 37.0,
        max_lon: 117.5,
    };
    assert!(search(ClipFilter {
        within: Some(jinan),
        ..Default::default()
    })
    .await
    .is_empty());
    assert_eq!(
        search(ClipFilter {
            text: Some("市南".into()),
            ..Default::default()
        })
        .await,
        vec![placed.id]
    );
}

/// Record kinds (art. 5): what the media workers found a file to be, a document type that
/// makes any record a document, a document's text found by search, and filters by both.
async fn records_have_kinds_types_and_searchable_text(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, b2, clips, .. } = recorded(&*catalogue).await;
    let kind = |i: usize| {
        let catalogue = catalogue.clone();
        let b1 = b1.clone();
        let id = clips[i].id;
        async move { catalogue.clip(&b1, id).await.unwrap().unwrap().kind }
    };
    assert_eq!(kind(0).await, None, "unknown until a worker has looked");
    let facts = |kind| MediaFacts {
        kind: Some(kind),
        ..MediaFacts::default()
    };
    catalogue
        .record_fingerprint(clips[0].id, &facts(RecordKind::Audio), &[], &[], at(2))
        .await
        .unwrap();
    catalogue
        .record_fingerprint(clips[1].id, &facts(RecordKind::Photo), &[], &[], at(2))
        .await
        .unwrap();
    let document = MediaFacts {
        page_count: Some(3),
        content_text: Some("Inquiry TRANSCRIPT of the Qingshan works".into()),
        ..facts(RecordKind::Document)
    };
    catalogue
        .record_fingerprint(clips[2].id, &document, &[], &[], at(2))
        .await
        .unwrap();
    assert_eq!(kind(0).await, Some(RecordKind::Audio));
    assert_eq!(
        catalogue
            .clip_media(clips[2].id)
            .await
            .unwrap()
            .unwrap()
            .facts
            .page_count,
        Some(3)
    );
    // A scanned page typed as a document is a document, and stays one when looked at again.
    assert!(catalogue
        .set_document_type(&b1, clips[1].id, "送达回证")
        .await
        .unwrap());
    assert!(
        !catalogue
            .set_document_type(&b2, clips[1].id, "送达回证")
            .await
            .unwrap(),
        "another bureau's record is not typed"
    );
    catalogue
        .record_fingerprint(clips[1].id, &facts(RecordKind::Photo), &[], &[], at(3))
        .await
        .unwrap();
    let typed = catalogue.clip(&b1, clips[1].id).await.unwrap().unwrap();
    assert_eq!(typed.kind, Some(RecordKind::Document));
    assert_eq!(typed.document_type.as_deref(), Some("送达回证"));
    let search = |filter: ClipFilter| {
        let catalogue = catalogue.clone();
        let b1 = b1.clone();
        async move {
            let mut ids: Vec<_> = catalogue
                .list_clips(&b1, &filter, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let mut documents = vec![clips[1].id, clips[2].id];
    documents.sort();
    assert_eq!(
        search(ClipFilter {
            kind: Some(RecordKind::Document),
            ..Default::default()
        })
        .await,
        documents
    );
    assert_eq!(
        search(ClipFilter {
            document_type: Some("送达回证".into()),
            ..Default::default()
        })
        .await,
        vec![clips[1].id]
    );
    assert_eq!(
        search(ClipFilter {
            text: Some("transcript of THE qingshan".into()),
            ..Default::default()
        })
        .await,
        vec![clips[2].id],
        "a document's words are found, in any case"
    );
}

/// Cases: unique reference per bureau, links kept once, the state moves once.
async fn cases_are_unique_per_bureau_linked_once_and_closed_once(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, b2, clips, .. } = recorded(&*catalogue).await;
    classify_third(&*catalogue, &b1, &clips).await;
    let case = CaseRecord {
        id: Uuid::now_v7(),
        bureau: b1.clone(),
        reference: "R-1".into(),
        title: "t".into(),
        state: CaseState::Open,
        opened_at: at(1),
        closed_at: None,
        closed_on: None,
        filing_due_at: None,
        filed_at: None,
        calendar_complete: true,
        case_type: Some("行政处罚".into()),
    };
    catalogue.create_case(&case).await.unwrap();
    assert_eq!(
        catalogue
            .case(&b1, case.id)
            .await
            .unwrap()
            .unwrap()
            .case_type
            .as_deref(),
        Some("行政处罚"),
        "the case type is kept"
    );
    assert!(matches!(
        catalogue
            .create_case(&CaseRecord {
                id: Uuid::now_v7(),
                ..case.clone()
            })
            .await,
        Err(CatalogueError::Conflict { .. })
    ));
    catalogue
        .create_case(&CaseRecord {
            id: Uuid::now_v7(),
            bureau: b2.clone(),
            ..case.clone()
        })
        .await
        .expect("same reference in another bureau");
    assert!(catalogue.case(&b2, case.id).await.unwrap().is_none());
    assert_eq!(
        catalogue
            .case_by_reference(&b1, "R-1")
            .await
            .unwrap()
            .map(|c| c.id),
        Some(case.id)
    );
    assert_eq!(
        catalogue
            .link_clips(case.id, &[clips[0].id, clips[2].id], "a", at(2))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        catalogue
            .link_clips(case.id, &[clips[0].id], "a", at(2))
            .await
            .unwrap(),
        0
    );
    assert_eq!(catalogue.unclassified_in_case(case.id).await.unwrap(), 1);
    let linked = catalogue
        .list_clips(
            &b1,
            &ClipFilter {
                case_id: Some(case.id),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(linked.len(), 2);
    assert!(catalogue
        .set_case_state(
            case.id,
            CaseState::Open,
            CaseState::Closed,
            at(3),
            Some(&CaseClosure {
                closed_on: at(1).date_naive(),
                filing_due: at(5),
                calendar_complete: true
            })
        )
        .await
        .unwrap());
    assert!(!catalogue
        .set_case_state(case.id, CaseState::Open, CaseState::Closed, at(4), None)
        .await
        .unwrap());
    let closed = catalogue.case(&b1, case.id).await.unwrap().unwrap();
    assert_eq!(
        (
            closed.state,
            closed.closed_at,
            closed.closed_on,
            closed.filing_due_at
        ),
        (
            CaseState::Closed,
            Some(at(3)),
            Some(at(1).date_naive()),
            Some(at(5))
        )
    );
}

/// Devices: registering one again updates it; each bureau sees its own.
async fn devices_are_registered_per_bureau(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, b2, .. } = recorded(&*catalogue).await;
    let device = |id: &str, team: &str| Device {
        device: LocalId::parse("device id", id).unwrap(),
        team: team.into(),
        officer: None,
        registered_at: at(0),
    };
    catalogue
        .upsert_device(&b1, &device("DSJ-1", "一中队"))
        .await
        .unwrap();
    catalogue
        .upsert_device(&b1, &device("DSJ-1", "二中队"))
        .await
        .unwrap();
    catalogue
        .upsert_device(&b2, &device("DSJ-9", "三中队"))
        .await
        .unwrap();
    let devices = catalogue.devices(&b1).await.unwrap();
    assert_eq!(
        devices
            .iter()
            .map(|d| (d.device.as_str(), d.team.as_str()))
            .collect::<Vec<_>>(),
        [("DSJ-1", "二中队")]
    );
}

/// Overdue counts per bureau and kind: classifications and case filings due and not done,
/// and late uploads.
async fn overdue_deadlines_are_counted_per_bureau_and_kind(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    schedule(&*catalogue, &clips).await;
    classify_third(&*catalogue, &b1, &clips).await;
    let case = new_case(&b1, "R-1");
    catalogue.create_case(&case).await.unwrap();
    assert!(catalogue
        .set_case_state(
            case.id,
            CaseState::Open,
            CaseState::Closed,
            at(3),
            Some(&CaseClosure {
                closed_on: at(1).date_naive(),
                filing_due: at(5),
                calendar_complete: true
            })
        )
        .await
        .unwrap());
    // At hour 12 of the next day: one classification, one case filing (due hour 5).
    let counts = catalogue
        .overdue_counts(at(12) + Duration::days(1))
        .await
        .unwrap();
    let count = |kind: DeadlineKind| {
        counts
            .iter()
            .find(|(b, k, _)| *b == b1 && *k == kind)
            .map(|(_, _, n)| *n)
            .unwrap_or(0)
    };
    assert_eq!(count(DeadlineKind::Classification), 1);
    assert_eq!(count(DeadlineKind::CaseFiling), 1);
    // Every clip was given an upload_due of hour 0 and arrived later; none arrived after its
    // hard due.
    assert_eq!(count(DeadlineKind::Upload3WorkingDays), 0);
    assert_eq!(count(DeadlineKind::Upload24Hours), 7);
}

/// Retention's candidates: a hold or a long-term reason keeps a clip from expiring, a
/// long-term one is archived; only the clip's own bureau may change them.
async fn holds_and_long_term_reasons_decide_expiry_and_archiving(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, b2, clips, .. } = recorded(&*catalogue).await;
    catalogue_first(&*catalogue, &clips).await;
    let id = clips[0].id; // catalogued, recorded at hour 1
    let ids = |list: Vec<custodian_platform::catalogue::ClipRecord>| {
        list.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(catalogue.expiry_candidates(at(2), 10).await.unwrap()),
        vec![id]
    );
    assert!(catalogue
        .set_retention(&b1, id, None, true, "leader", at(3))
        .await
        .unwrap());
    assert!(
        catalogue
            .expiry_candidates(at(2), 10)
            .await
            .unwrap()
            .is_empty(),
        "a held clip is a candidate"
    );
    let reason = custodian_core::retention::LongTermReason::Other("信访".into());
    assert!(catalogue
        .set_retention(&b1, id, Some(&reason), false, "leader", at(3))
        .await
        .unwrap());
    assert!(
        catalogue
            .expiry_candidates(at(2), 10)
            .await
            .unwrap()
            .is_empty(),
        "a long-term clip is a candidate"
    );
    assert_eq!(
        ids(catalogue.archive_candidates(10).await.unwrap()),
        vec![id]
    );
    assert!(catalogue
        .set_retention(&b1, id, None, false, "leader", at(4))
        .await
        .unwrap());
    assert!(!catalogue
        .set_retention(&b2, id, None, true, "x", at(4))
        .await
        .unwrap());
}

/// The recycle bin: a clip goes in once, comes out when restored, and once its time ran out
/// it is purged to a tombstone that keeps its record.
async fn recycled_clips_are_restored_or_purged_to_a_tombstone(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    catalogue_first(&*catalogue, &clips).await;
    let id = clips[0].id;
    let ids = |list: Vec<custodian_platform::catalogue::ClipRecord>| {
        list.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let until = at(5) + Duration::days(7);
    assert!(catalogue
        .recycle(id, until, at(5), "ran out")
        .await
        .unwrap());
    assert!(
        !catalogue.recycle(id, until, at(5), "again").await.unwrap(),
        "recycled twice"
    );
    assert!(catalogue
        .purge_candidates(until - Duration::seconds(1), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(catalogue.purge_candidates(until, 10).await.unwrap()),
        vec![id]
    );
    assert!(catalogue
        .restore(&b1, id, at(6), "archivist")
        .await
        .unwrap());
    assert!(
        !catalogue
            .restore(&b1, id, at(6), "archivist")
            .await
            .unwrap(),
        "restored a clip not in the bin"
    );
    assert_eq!(tombstone_first(&*catalogue, &clips).await, until);
    let tombstone = catalogue.clip(&b1, id).await.unwrap().unwrap();
    assert_eq!(
        (tombstone.state, tombstone.purged_at, tombstone.sha256),
        (ClipState::Expired, Some(until), clips[0].sha256)
    );
}

/// The scrub visits never-verified clips first, then the least recently verified; never a
/// tombstone.
async fn the_scrub_visits_the_least_recently_verified_first(catalogue: Arc<dyn Catalogue>) {
    let Recorded { clips, .. } = recorded(&*catalogue).await;
    catalogue_first(&*catalogue, &clips).await;
    tombstone_first(&*catalogue, &clips).await;
    let ids = |list: Vec<custodian_platform::catalogue::ClipRecord>| {
        list.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let order = ids(catalogue.scrub_candidates(100).await.unwrap());
    assert!(!order.contains(&clips[0].id));
    let first = order[0];
    catalogue.mark_verified(first, at(8)).await.unwrap();
    assert_eq!(
        *ids(catalogue.scrub_candidates(100).await.unwrap())
            .last()
            .unwrap(),
        first
    );
    assert_eq!(
        catalogue.oldest_verification().await.unwrap(),
        None,
        "some were never verified"
    );
}

/// Findings are kept with their clip, which is then found by their severity.
async fn findings_are_kept_and_found_by_severity(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    let first = clips[3].id;
    catalogue
        .add_finding(first, "missing", "critical", "gone", at(8))
        .await
        .unwrap();
    assert_eq!(catalogue.findings(first).await.unwrap()[0].kind, "missing");
    let critical = ClipFilter {
        finding_severity: Some("critical".into()),
        ..Default::default()
    };
    let with_findings = catalogue.list_clips(&b1, &critical, 10).await.unwrap();
    assert_eq!(
        with_findings.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![first]
    );
}

/// The storage gauges count clips and bytes per retention class; a tombstone holds no bytes.
async fn a_tombstone_counts_as_expired_and_holds_no_bytes(catalogue: Arc<dyn Catalogue>) {
    let Recorded { clips, .. } = recorded(&*catalogue).await;
    catalogue_first(&*catalogue, &clips).await;
    tombstone_first(&*catalogue, &clips).await;
    let totals = catalogue.class_totals().await.unwrap();
    let expired = totals.iter().find(|t| t.class == "expired").unwrap();
    assert_eq!(
        (expired.clips, expired.bytes),
        (1, 0),
        "a tombstone holds no bytes"
    );
}

fn new_case(bureau: &BureauId, reference: &str) -> CaseRecord {
    CaseRecord {
        id: Uuid::now_v7(),
        bureau: bureau.clone(),
        reference: reference.into(),
        title: "t".into(),
        state: CaseState::Open,
        opened_at: at(0),
        closed_at: None,
        closed_on: None,
        filing_due_at: None,
        filed_at: None,
        calendar_complete: true,
        case_type: None,
    }
}

/// Art. 18: a case keeps the closure date entered beside when it was closed, and the list of
/// cases narrows by state, by overdue filing and by page, in its own bureau only.
async fn cases_close_on_their_date_and_are_listed(catalogue: Arc<dyn Catalogue>) {
    let b1 = BureauId::parse("b1").unwrap();
    let b2 = BureauId::parse("b2").unwrap();
    for bureau in [&b1, &b2] {
        catalogue
            .ensure_bureau(bureau, "大队", at(0))
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for n in 0..4 {
        let case = new_case(&b1, &format!("R-{n}"));
        catalogue.create_case(&case).await.unwrap();
        ids.push(case.id);
    }
    catalogue.create_case(&new_case(&b2, "R-0")).await.unwrap();
    let closed_on = at(0).date_naive() - Duration::days(3);
    let closure = |due| CaseClosure {
        closed_on,
        filing_due: due,
        calendar_complete: true,
    };
    // Case 0 closed with its filing due at hour 5, case 1 due a day later, case 2 filed.
    for (id, due) in [
        (ids[0], at(5)),
        (ids[1], at(5) + Duration::days(1)),
        (ids[2], at(5)),
    ] {
        assert!(catalogue
            .set_case_state(
                id,
                CaseState::Open,
                CaseState::Closed,
                at(4),
                Some(&closure(due))
            )
            .await
            .unwrap());
    }
    assert!(catalogue
        .set_case_state(ids[2], CaseState::Closed, CaseState::Filed, at(4), None)
        .await
        .unwrap());
    let case0 = catalogue.case(&b1, ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (case0.closed_at, case0.closed_on),
        (Some(at(4)), Some(closed_on)),
        "recorded at hour 4, closed three days before"
    );
    let filed = catalogue.case(&b1, ids[2]).await.unwrap().unwrap();
    assert_eq!(
        filed.closed_on,
        Some(closed_on),
        "filing keeps the closure date"
    );
    let list = |filter: CaseFilter, limit| {
        let catalogue = catalogue.clone();
        let b1 = b1.clone();
        async move {
            catalogue
                .list_cases(&b1, &filter, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(CaseFilter::default(), 10).await,
        [ids[3], ids[2], ids[1], ids[0]],
        "newest first, only the bureau's own"
    );
    let state = |state| CaseFilter {
        state: Some(state),
        ..Default::default()
    };
    assert_eq!(list(state(CaseState::Open), 10).await, [ids[3]]);
    assert_eq!(list(state(CaseState::Closed), 10).await, [ids[1], ids[0]]);
    assert_eq!(list(state(CaseState::Filed), 10).await, [ids[2]]);
    let overdue = CaseFilter {
        filing_overdue_at: Some(at(6)),
        ..Default::default()
    };
    assert_eq!(list(overdue, 10).await, [ids[0]], "filed is not overdue");
    let page = list(CaseFilter::default(), 2).await;
    assert_eq!(page, [ids[3], ids[2]]);
    let next = CaseFilter {
        before: Some(ids[2]),
        ..Default::default()
    };
    assert_eq!(list(next, 2).await, [ids[1], ids[0]]);
}

/// Art. 12 (3): the matter and party of a classification are kept, in its history too, and
/// found by the text search, as is the case the upload named.
async fn classifications_keep_matter_and_party(catalogue: Arc<dyn Catalogue>) {
    let b1 = BureauId::parse("b1").unwrap();
    catalogue.ensure_bureau(&b1, "大队", at(0)).await.unwrap();
    // An even clip names a case, whose reference a classification keeps searchable.
    let clip = new_clip(&b1, 2, "DSJ-1");
    record(&*catalogue, &clip).await;
    let classification =
        Classification::new(&Categories::default(), "行政检查", "检查", None, false)
            .unwrap()
            .with_matter_and_party(Some("安全生产检查"), Some("某加油站有限公司"))
            .unwrap();
    assert!(catalogue
        .classify(&b1, clip.id, &classification, "N", "zhang", at(3))
        .await
        .unwrap());
    let classified = catalogue.clip(&b1, clip.id).await.unwrap().unwrap();
    assert_eq!(
        (classified.matter.as_deref(), classified.party.as_deref()),
        (Some("安全生产检查"), Some("某加油站有限公司"))
    );
    let history = catalogue.classifications(clip.id).await.unwrap();
    assert_eq!(history[0].party.as_deref(), Some("某加油站有限公司"));
    for text in ["加油站", "安全生产", "应急罚"] {
        let found = catalogue
            .list_clips(
                &b1,
                &ClipFilter {
                    text: Some(text.into()),
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(
            found.iter().map(|c| c.id).collect::<Vec<_>>(),
            [clip.id],
            "{text}"
        );
    }
}

/// Art. 15: teams are registered per bureau; a clip takes its camera's team from the registry
/// as it arrives, and says whether the camera was registered at all.
async fn teams_and_the_registry_check(catalogue: Arc<dyn Catalogue>) {
    let b1 = BureauId::parse("b1").unwrap();
    let b2 = BureauId::parse("b2").unwrap();
    for bureau in [&b1, &b2] {
        catalogue
            .ensure_bureau(bureau, "大队", at(0))
            .await
            .unwrap();
    }
    // Registered once per bureau, the first registration kept.
    let first = catalogue.register_team(&b1, "三中队", at(1)).await.unwrap();
    let again = catalogue.register_team(&b1, "三中队", at(2)).await.unwrap();
    assert_eq!((first.registered_at, again.registered_at), (at(1), at(1)));
    catalogue.register_team(&b1, "一中队", at(1)).await.unwrap();
    catalogue.register_team(&b2, "九中队", at(1)).await.unwrap();
    assert_eq!(
        catalogue
            .teams(&b1)
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["一中队", "三中队"]
    );

    // A device of the same name in another bureau is not the clip's camera.
    for (bureau, device, team) in [(&b1, "DSJ-1", "一中队"), (&b2, "DSJ-2", "九中队")] {
        catalogue
            .upsert_device(
                bureau,
                &Device {
                    device: LocalId::parse("device id", device).unwrap(),
                    team: team.into(),
                    officer: None,
                    registered_at: at(0),
                },
            )
            .await
            .unwrap();
    }
    let registered = new_clip(&b1, 2, "DSJ-1");
    let unregistered = new_clip(&b1, 1, "DSJ-2");
    for clip in [&registered, &unregistered] {
        record(&*catalogue, clip).await;
    }
    let got = catalogue.clip(&b1, registered.id).await.unwrap().unwrap();
    assert_eq!(
        (got.team.as_deref(), got.device_registered),
        (Some("一中队"), Some(true))
    );
    let got = catalogue.clip(&b1, unregistered.id).await.unwrap().unwrap();
    assert_eq!((got.team, got.device_registered), (None, Some(false)));
    let flagged = catalogue
        .list_clips(
            &b1,
            &ClipFilter {
                device_registered: Some(false),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        flagged.iter().map(|c| c.id).collect::<Vec<_>>(),
        [unregistered.id]
    );
}

/// Art. 17: a token and a person's session speak for the officer they were made for and their
/// team; a station's token for no one.
async fn credentials_speak_for_their_officer(catalogue: Arc<dyn Catalogue>) {
    use custodian_core::roles::OfficerIdentity;
    let b1 = BureauId::parse("b1").unwrap();
    catalogue.ensure_bureau(&b1, "大队", at(0)).await.unwrap();
    let zhang = OfficerIdentity {
        officer: Some(LocalId::parse("officer id", "031234").unwrap()),
        team: Some("一中队".into()),
    };
    catalogue
        .insert_token(&b1, &"c".repeat(64), "zhang", Role::Officer, &zhang, at(0))
        .await
        .unwrap();
    catalogue
        .insert_token(
            &b1,
            &"d".repeat(64),
            "station",
            Role::Officer,
            &Default::default(),
            at(0),
        )
        .await
        .unwrap();
    let owner = |hash: String| {
        let catalogue = catalogue.clone();
        async move { catalogue.token_owner(&hash, at(0)).await.unwrap().unwrap() }
    };
    assert_eq!(owner("c".repeat(64)).await.identity, zhang);
    assert!(owner("d".repeat(64)).await.identity.is_empty());
    catalogue
        .create_user(&b1, "zhang.san", Role::Officer, &zhang, "hash", at(0))
        .await
        .unwrap();
    catalogue
        .create_session(
            Uuid::now_v7(),
            &"e".repeat(64),
            &b1,
            "zhang.san",
            at(0),
            at(8),
        )
        .await
        .unwrap();
    let session = catalogue
        .session_owner(&"e".repeat(64), at(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.identity, zhang);
}

/// Art. 16: the return to the office and a special circumstance are kept as the upload gave
/// them, and a late upload with a circumstance, still within the 3 working days, is not counted
/// as late.
async fn returns_to_the_office_and_special_circumstances(catalogue: Arc<dyn Catalogue>) {
    let b1 = BureauId::parse("b1").unwrap();
    catalogue.ensure_bureau(&b1, "大队", at(0)).await.unwrap();
    // Each arrives half an hour after its recording, 30 minutes past its 24-hour due time and
    // well within its 3 working days.
    let mut excused = new_clip(&b1, 1, "DSJ-1");
    excused.meta.returned_at = Some(at(1) + Duration::minutes(10));
    excused.meta.late_reason = Some("处置突发事件".into());
    let late = new_clip(&b1, 3, "DSJ-1");
    for clip in [&excused, &late] {
        record(&*catalogue, clip).await;
        let schedule = ClipSchedule {
            upload_due: clip.received_at - Duration::minutes(30),
            upload_hard_due: clip.received_at + Duration::days(3),
            classify_due: clip.received_at + Duration::days(2),
            calendar_complete: true,
        };
        catalogue
            .set_schedule(clip.id, "N", &schedule)
            .await
            .unwrap();
    }
    let got = catalogue.clip(&b1, excused.id).await.unwrap().unwrap();
    assert_eq!(
        (got.returned_at, got.late_reason.as_deref()),
        (excused.meta.returned_at, Some("处置突发事件"))
    );
    let got = catalogue.clip(&b1, late.id).await.unwrap().unwrap();
    assert_eq!((got.returned_at, got.late_reason), (None, None));
    let counts = catalogue.overdue_counts(at(12)).await.unwrap();
    let late_uploads: i64 = counts
        .iter()
        .filter(|(_, kind, _)| *kind == DeadlineKind::Upload24Hours)
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(late_uploads, 1, "only the late clip without a circumstance");
}

#[tokio::test]
async fn migrations_run_once_and_again_without_harm() {
    let url = fresh_postgres_url().await;
    let first = catalogue::connect(&url, 1).await.unwrap();
    first
        .ensure_bureau(&BureauId::parse("b1").unwrap(), "x", at(0))
        .await
        .unwrap();
    drop(first);
    let second = catalogue::connect(&url, 1).await.unwrap();
    second.ping().await.unwrap();
    assert!(matches!(
        catalogue::connect("mysql://x", 1).await,
        Err(CatalogueError::UnknownScheme(_))
    ));
}

#[tokio::test]
async fn one_instance_holds_the_retention_lease_and_a_lost_holder_hands_it_on() {
    let url = fresh_postgres_url().await;
    let a = catalogue::connect(&url, 2).await.unwrap();
    let b = catalogue::connect(&url, 2).await.unwrap();
    let mut held = a
        .try_lease("custodian-retention")
        .await
        .unwrap()
        .expect("first instance gets the lease");
    assert!(held.held().await);
    assert!(
        b.try_lease("custodian-retention").await.unwrap().is_none(),
        "two instances hold the lease"
    );
    assert!(
        b.try_lease("another-schedule").await.unwrap().is_some(),
        "leases are per name"
    );
    // The holder goes away (its connection closes, as when its process dies).
    drop(held);
    let taken = custodian_platform::testing::eventually(
        std::time::Duration::from_secs(10),
        "lease handed on",
        || {
            let b = b.clone();
            async move { b.try_lease("custodian-retention").await.unwrap() }
        },
    )
    .await;
    drop(taken);
    // SQLite serves one process, which always holds it.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = catalogue::connect(&format!("sqlite:{}", dir.path().join("c.db").display()), 1)
        .await
        .unwrap();
    assert!(sqlite
        .try_lease("custodian-retention")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn the_postgres_audit_trail_refuses_changes_and_a_bypass_is_caught() {
    use custodian_core::audit::{sign_checkpoint, verify_chain, ChainError, NewAuditEntry};
    use sqlx::Connection;
    let url = fresh_postgres_url().await;
    let catalogue = catalogue::connect(&url, 4).await.unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    // Concurrent appends keep one unbroken chain.
    let appends = (0..12).map(|i| {
        let catalogue = catalogue.clone();
        async move {
            let entry = NewAuditEntry {
                at: at(1),
                actor: format!("worker {i}"),
                action: "GET /v1/clips/{id}".into(),
                target: None,
                detail: "status 200".into(),
            };
            catalogue.append_audit("b1", entry).await.unwrap()
        }
    });
    futures::future::join_all(appends).await;
    let entries = catalogue.audit_entries("b1", 0, 100).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    let checkpoint = sign_checkpoint(&key, &entries[11], at(2));
    catalogue.add_checkpoint(&checkpoint).await.unwrap();
    assert!(verify_chain(
        "b1",
        &entries,
        std::slice::from_ref(&checkpoint),
        &key.verifying_key()
    )
    .is_ok());

    // Even the superuser the tests connect as is refused by the triggers.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for statement in [
        "UPDATE audit_log SET detail = 'status 403' WHERE seq = 5",
        "DELETE FROM audit_log WHERE seq = 5",
        "TRUNCATE audit_log",
        "DELETE FROM audit_checkpoints",
    ] {
        let err = sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect_err(statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    // Someone who can disable the triggers changes an entry: the chain names it.
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET detail = 'status 403' WHERE seq = 5")
        .execute(&mut conn)
        .await
        .unwrap();
    let tampered = catalogue.audit_entries("b1", 0, 100).await.unwrap();
    assert_eq!(
        verify_chain("b1", &tampered, &[checkpoint], &key.verifying_key()),
        Err(ChainError::Altered {
            bureau: "b1".into(),
            seq: 5
        })
    );
}

#[tokio::test]
async fn postgres_down_is_transient() {
    let err = catalogue::connect("postgres://postgres@127.0.0.1:9/none", 1)
        .await
        .err()
        .expect("nothing listens on port 9");
    assert!(err.is_transient(), "{err}");
}

/// A copy request's watermarked copy: pending work until recorded, then its digest and size;
/// a failure is kept only while no copy is recorded.
async fn party_copies(catalogue: Arc<dyn Catalogue>) {
    use custodian_core::copies::CopyState;
    use custodian_platform::catalogue::CopyRequest;
    let b1 = BureauId::parse("b1").unwrap();
    catalogue.ensure_bureau(&b1, "一大队", at(0)).await.unwrap();
    let clip = new_clip(&b1, 1, "DSJ-1");
    record(&*catalogue, &clip).await;
    let request = CopyRequest {
        id: Uuid::now_v7(),
        bureau: b1.clone(),
        clip: clip.id,
        party: "律师".into(),
        purpose: "诉讼".into(),
        requested_by: "officer".into(),
        requested_by_person: "token officer".into(),
        requested_at: at(8),
        state: CopyState::Pending,
        decided_by: None,
        decided_at: None,
        reason: None,
        expires_at: None,
        downloads: 0,
        copy_sha256: None,
        copy_size_bytes: None,
        copy_made_at: None,
        copy_failure: None,
        copy_track_sha256: None,
        redaction: None,
        redaction_sha256: None,
        redaction_by: None,
        redaction_at: None,
    };
    catalogue.create_copy_request(&request).await.unwrap();
    assert!(
        catalogue
            .copies_to_make(at(23), 10)
            .await
            .unwrap()
            .is_empty(),
        "pending: nothing to make"
    );
    let token = "a".repeat(64);
    // A redaction plan, kept with its hash while pending; an approval naming another plan
    // (here: none) decides nothing.
    use custodian_core::redaction::{RedactionPlan, Sound, SoundSpan};
    let plan = RedactionPlan {
        sound_spans: vec![SoundSpan {
            start: 0.0,
            end: 1.0,
            sound: Sound::Mute,
        }],
        ..Default::default()
    };
    assert!(catalogue
        .set_copy_redaction(&b1, request.id, &plan, "officer", at(8))
        .await
        .unwrap());
    let read = catalogue
        .copy_request(&b1, request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.redaction.as_ref(), Some(&plan));
    assert_eq!(read.redaction_sha256, Some(plan.sha256()));
    assert_eq!(
        (read.redaction_by.as_deref(), read.redaction_at),
        (Some("officer"), Some(at(8)))
    );
    let b2 = BureauId::parse("b2").unwrap();
    assert!(!catalogue
        .set_copy_redaction(&b2, request.id, &plan, "officer", at(8))
        .await
        .unwrap());
    assert!(!catalogue
        .decide_copy_request(
            request.id,
            true,
            "leader",
            at(9),
            "同意",
            Some((&token, at(20))),
            Some("")
        )
        .await
        .unwrap());
    assert!(catalogue
        .decide_copy_request(
            request.id,
            true,
            "leader",
            at(9),
            "同意",
            Some((&token, at(20))),
            Some(&plan.sha256())
        )
        .await
        .unwrap());
    // Decided: the plan stays the one approved.
    assert!(!catalogue
        .set_copy_redaction(&b1, request.id, &RedactionPlan::default(), "officer", at(9))
        .await
        .unwrap());
    assert!(catalogue
        .copies_to_make(at(9), 10)
        .await
        .unwrap()
        .is_empty());
    let due = catalogue.copies_to_make(at(10), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![request.id]
    );

    let digest = Sha256Digest::of(b"copy").to_hex();
    catalogue
        .record_copy_made(request.id, &digest, 4096, Some("ab"), at(10))
        .await
        .unwrap();
    catalogue
        .record_copy_failure(request.id, "too late to fail")
        .await
        .unwrap();
    let made = catalogue
        .copy_request_by_token(&token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(made.copy_sha256.as_deref(), Some(digest.as_str()));
    assert_eq!(made.copy_size_bytes, Some(4096));
    assert_eq!(made.copy_made_at, Some(at(10)));
    assert_eq!(made.copy_failure, None);
    assert_eq!(made.copy_track_sha256.as_deref(), Some("ab"));

    // GPS track versions: numbered by the caller, never replaced, listed oldest first.
    let version = |n: i64| custodian_platform::catalogue::TrackVersion {
        version: n,
        object_key: format!("derived/b1/{}/tracks/{n:06}", request.clip),
        sha256: format!("{n:064}"),
        size_bytes: 10 * n,
        added_at: at(11),
        added_by: "archivist".into(),
    };
    for n in [1, 2] {
        assert_eq!(
            catalogue
                .add_track_version(request.clip, &version(n))
                .await
                .unwrap(),
            n
        );
    }
    assert!(matches!(
        catalogue.add_track_version(request.clip, &version(2)).await,
        Err(CatalogueError::Conflict { .. })
    ));
    assert_eq!(
        catalogue.track_versions(request.clip).await.unwrap(),
        vec![version(1), version(2)]
    );
    assert!(catalogue
        .copies_to_make(at(23), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        catalogue.copy_requests_of_clip(clip.id).await.unwrap(),
        vec![made.clone()]
    );
    // Listed by bureau and state, newest first, paged by the last id.
    let later = CopyRequest {
        id: Uuid::now_v7(),
        requested_at: at(12),
        ..request.clone()
    };
    catalogue.create_copy_request(&later).await.unwrap();
    let listed = |state: Option<CopyState>, before: Option<Uuid>| {
        let catalogue = catalogue.clone();
        let b1 = b1.clone();
        async move {
            catalogue
                .copy_requests(&b1, state, before, 10)
                .await
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(None, None).await, vec![later.id, made.id]);
    assert_eq!(listed(Some(CopyState::Pending), None).await, vec![later.id]);
    assert_eq!(listed(Some(CopyState::Approved), None).await, vec![made.id]);
    assert_eq!(listed(None, Some(later.id)).await, vec![made.id]);
    let b2 = BureauId::parse("b2").unwrap();
    assert!(catalogue
        .copy_requests(&b2, None, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// The standalone catalogue names every clip, officer and case: its file and journal are the
/// owner's alone whatever the umask, and a file left more open is tightened at start.
#[tokio::test]
async fn the_sqlite_catalogue_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalogue.db");
    let mode = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", path.display()))
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    let url = format!("sqlite:{}", path.display());
    let first = catalogue::connect(&url, 1).await.unwrap();
    first.ping().await.unwrap();
    assert_eq!(mode(""), Some(0o600));
    assert_eq!(mode("-wal"), Some(0o600));
    drop(first);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = catalogue::connect(&url, 1).await.unwrap();
    again.ping().await.unwrap();
    assert_eq!(mode(""), Some(0o600));
}

/// A region runs its services as a role that reads and writes the catalogue but may only
/// append to the audit trail and cannot change the schema: no update, delete or truncate of
/// the trail, no dropping or disabling its triggers. The owner migrates and grants.
#[tokio::test]
async fn the_runtime_role_only_appends_to_the_audit_trail() {
    use sqlx::Connection;
    let url = fresh_postgres_url().await;
    let (base, database) = url.rsplit_once('/').unwrap();
    let suffix = database.trim_start_matches("custodian_t_");
    let (owner, runtime) = (
        format!("custodian_t_owner_{suffix}"),
        format!("custodian_t_app_{suffix}"),
    );
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    for statement in [
        format!("CREATE ROLE {owner} LOGIN"),
        format!("CREATE ROLE {runtime} LOGIN"),
        format!("ALTER DATABASE {database} OWNER TO {owner}"),
        format!("ALTER SCHEMA public OWNER TO {owner}"),
    ] {
        sqlx::query(&statement).execute(&mut admin).await.unwrap();
    }
    let as_role = |role: &str| {
        format!(
            "{}/{database}",
            base.replacen("postgres@", &format!("{role}@"), 1)
        )
    };

    // The runtime role cannot start on a schema that is not migrated...
    let early = catalogue::connect_with(
        &as_role(&runtime),
        1,
        custodian_platform::catalogue::Schema::Expect,
    )
    .await;
    assert!(
        matches!(early, Err(CatalogueError::Migration(_))),
        "started on an empty schema"
    );
    // ... the owner migrates and grants ...
    let owner_catalogue =
        custodian_platform::catalogue::PostgresCatalogue::connect(&as_role(&owner), 1)
            .await
            .unwrap();
    owner_catalogue.grant_runtime(&runtime).await.unwrap();
    // ... and then it works, and the trail only grows.
    let app = catalogue::connect_with(
        &as_role(&runtime),
        2,
        custodian_platform::catalogue::Schema::Expect,
    )
    .await
    .unwrap();
    let b1 = BureauId::parse("b1").unwrap();
    app.ensure_bureau(&b1, "一大队", at(0)).await.unwrap();
    let entry = custodian_core::audit::NewAuditEntry {
        at: at(1),
        actor: "test".into(),
        action: "GET /v1/clips".into(),
        target: None,
        detail: "status 200".into(),
    };
    app.append_audit("b1", entry).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&as_role(&runtime))
        .await
        .unwrap();
    for forbidden in [
        "UPDATE audit_log SET detail = 'status 404'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DELETE FROM audit_checkpoints",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
        "DELETE FROM _sqlx_migrations",
    ] {
        let refused = sqlx::query(forbidden).execute(&mut conn).await;
        let message = refused.expect_err(forbidden).to_string();
        assert!(
            message.contains("permission denied") || message.contains("must be owner"),
            "{forbidden}: {message}"
        );
    }
    assert_eq!(app.audit_entries("b1", 0, 10).await.unwrap().len(), 1);
    drop((conn, app, owner_catalogue, admin));
    // The roles are the cluster's: leave none behind.
    sqlx::query(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .execute(
            &mut sqlx::PgConnection::connect(&format!("{base}/postgres"))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    let mut cluster = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    for role in [&owner, &runtime] {
        sqlx::query(&format!("DROP ROLE {role}"))
            .execute(&mut cluster)
            .await
            .unwrap();
    }
}

/// RFC 8705 bindings: a token bound to a client certificate's thumbprint names it to whoever
/// authenticates it and in the listing; the binding stays through rotation, is lifted with
/// `None`, and is changed only for a live token of the bureau's own.
async fn token_certificate_bindings(catalogue: Arc<dyn Catalogue>) {
    let b1 = BureauId::parse("b1").unwrap();
    let b2 = BureauId::parse("b2").unwrap();
    catalogue.ensure_bureau(&b1, "一大队", at(0)).await.unwrap();
    catalogue.ensure_bureau(&b2, "二大队", at(0)).await.unwrap();
    let hash = |c: char| c.to_string().repeat(64);
    let thumbprint = custodian_core::token::certificate_thumbprint(b"station certificate");
    let station = catalogue
        .insert_token(
            &b1,
            &hash('a'),
            "station",
            Role::Officer,
            &Default::default(),
            at(0),
        )
        .await
        .unwrap();
    let bound_to = |h: char| {
        let catalogue = catalogue.clone();
        async move {
            catalogue
                .token_owner(&hash(h), at(1))
                .await
                .unwrap()
                .and_then(|o| o.client_certificate)
        }
    };
    assert_eq!(bound_to('a').await, None, "tokens are made unbound");
    assert!(!catalogue
        .set_token_certificate(&b2, station, Some(&thumbprint))
        .await
        .unwrap());
    assert!(catalogue
        .set_token_certificate(&b1, station, Some(&thumbprint))
        .await
        .unwrap());
    assert_eq!(bound_to('a').await, Some(thumbprint.clone()));
    let listed = catalogue.tokens(Some(&b1)).await.unwrap();
    assert_eq!(listed[0].client_cert_x5t_s256.as_ref(), Some(&thumbprint));

    let rotated = catalogue
        .rotate_token(&b1, station, &hash('b'), at(1), None)
        .await
        .unwrap()
        .expect("rotated");
    assert_eq!(rotated.client_cert_x5t_s256.as_ref(), Some(&thumbprint));
    assert_eq!(bound_to('b').await, Some(thumbprint.clone()));
    assert!(
        !catalogue
            .set_token_certificate(&b1, station, None)
            .await
            .unwrap(),
        "a revoked token was unbound"
    );
    assert!(catalogue
        .set_token_certificate(&b1, rotated.id, None)
        .await
        .unwrap());
    assert_eq!(bound_to('b').await, None);
}

/// Tokens and accounts end: listed without secrets, revoked, given an end, rotated (the old
/// one revoked or ending soon, never later), people disabled with their sessions ended; and
/// failed logins are counted in one place, whatever the concurrency.
async fn credentials(catalogue: Arc<dyn Catalogue>) {
    let b1 = BureauId::parse("b1").unwrap();
    let b2 = BureauId::parse("b2").unwrap();
    catalogue.ensure_bureau(&b1, "一大队", at(0)).await.unwrap();
    catalogue.ensure_bureau(&b2, "二大队", at(0)).await.unwrap();
    let hash = |c: char| c.to_string().repeat(64);
    let station = catalogue
        .insert_token(
            &b1,
            &hash('a'),
            "station",
            Role::Officer,
            &Default::default(),
            at(0),
        )
        .await
        .unwrap();
    let auditor = catalogue
        .insert_token(
            &b1,
            &hash('b'),
            "auditor",
            Role::Auditor,
            &Default::default(),
            at(1),
        )
        .await
        .unwrap();
    let other = catalogue
        .insert_token(
            &b2,
            &hash('c'),
            "other",
            Role::Officer,
            &Default::default(),
            at(1),
        )
        .await
        .unwrap();
    let listed = catalogue.tokens(Some(&b1)).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|t| (t.id, t.label.as_str(), t.role))
            .collect::<Vec<_>>(),
        vec![
            (station, "station", Role::Officer),
            (auditor, "auditor", Role::Auditor)
        ]
    );
    assert!(listed.iter().all(|t| t.is_live(at(2))));
    assert_eq!(catalogue.tokens(None).await.unwrap().len(), 3);
    let owner = |h: char, now| {
        let catalogue = catalogue.clone();
        async move {
            catalogue
                .token_owner(&h.to_string().repeat(64), now)
                .await
                .unwrap()
                .map(|o| o.token_id)
        }
    };

    // An end: the token works until then, not from then on; only in its own bureau.
    assert!(!catalogue
        .set_token_expiry(&b2, station, Some(at(5)))
        .await
        .unwrap());
    assert!(catalogue
        .set_token_expiry(&b1, station, Some(at(5)))
        .await
        .unwrap());
    assert_eq!(owner('a', at(4)).await, Some(station));
    assert_eq!(owner('a', at(5)).await, None);
    assert!(catalogue
        .set_token_expiry(&b1, station, None)
        .await
        .unwrap());
    assert_eq!(owner('a', at(6)).await, Some(station));
    assert!(catalogue
        .set_token_expiry(&b1, station, Some(at(5)))
        .await
        .unwrap());

    // Revoking: once, only in its own bureau.
    assert!(!catalogue.revoke_token(&b1, other, at(2)).await.unwrap());
    assert!(catalogue.revoke_token(&b1, auditor, at(2)).await.unwrap());
    assert!(!catalogue.revoke_token(&b1, auditor, at(2)).await.unwrap());
    assert_eq!(owner('b', at(2)).await, None);
    assert!(!catalogue
        .set_token_expiry(&b1, auditor, None)
        .await
        .unwrap());

    // Rotating: same label, role and end; the old one revoked at once...
    let rotated = catalogue
        .rotate_token(&b1, station, &hash('d'), at(2), None)
        .await
        .unwrap()
        .expect("rotated");
    assert_ne!(rotated.id, station);
    assert_eq!(
        (
            rotated.label.as_str(),
            rotated.role,
            rotated.expires_at,
            rotated.created_at
        ),
        ("station", Role::Officer, Some(at(5)), at(2))
    );
    assert_eq!(owner('a', at(2)).await, None);
    assert_eq!(owner('d', at(2)).await, Some(rotated.id));
    assert!(catalogue
        .rotate_token(&b1, station, &hash('e'), at(2), None)
        .await
        .unwrap()
        .is_none());
    // ... or ending a little later, never later than it would have.
    let again = catalogue
        .rotate_token(&b1, rotated.id, &hash('e'), at(3), Some(at(9)))
        .await
        .unwrap()
        .expect("rotated again");
    assert_eq!(owner('d', at(4)).await, Some(rotated.id));
    assert_eq!(
        owner('d', at(5)).await,
        None,
        "the overlap outlived the token's own end"
    );
    assert_eq!(owner('e', at(4)).await, Some(again.id));
    // Nothing dead, nothing of another bureau, is rotated.
    for (bureau, id) in [(&b1, auditor), (&b1, other), (&b2, again.id)] {
        assert!(catalogue
            .rotate_token(bureau, id, &hash('f'), at(4), None)
            .await
            .unwrap()
            .is_none());
    }
    assert!(
        catalogue
            .rotate_token(&b1, again.id, &hash('f'), at(5), None)
            .await
            .unwrap()
            .is_none(),
        "an expired token was rotated"
    );

    // People: listed by name; disabling ends their sessions for good.
    for (name, role) in [("wang.wu", Role::Leader), ("li.si", Role::Officer)] {
        catalogue
            .create_user(&b1, name, role, &Default::default(), "$argon2id$x", at(0))
            .await
            .unwrap();
    }
    catalogue
        .create_user(
            &b2,
            "zhao.liu",
            Role::Admin,
            &Default::default(),
            "$argon2id$x",
            at(0),
        )
        .await
        .unwrap();
    let people = catalogue.users(Some(&b1)).await.unwrap();
    assert_eq!(
        people
            .iter()
            .map(|u| (u.username.as_str(), u.role))
            .collect::<Vec<_>>(),
        vec![("li.si", Role::Officer), ("wang.wu", Role::Leader)]
    );
    assert_eq!(catalogue.users(None).await.unwrap().len(), 3);
    catalogue
        .create_session(Uuid::now_v7(), &hash('s'), &b1, "wang.wu", at(1), at(9))
        .await
        .unwrap();
    assert!(catalogue
        .session_owner(&hash('s'), at(2))
        .await
        .unwrap()
        .is_some());
    assert!(!catalogue.disable_user(&b2, "wang.wu", at(2)).await.unwrap());
    assert!(catalogue.disable_user(&b1, "wang.wu", at(2)).await.unwrap());
    assert!(catalogue.disable_user(&b1, "wang.wu", at(3)).await.unwrap());
    let disabled = catalogue.users(Some(&b1)).await.unwrap();
    assert_eq!(
        disabled[1].disabled_at,
        Some(at(2)),
        "the first disabling is kept"
    );
    assert!(catalogue.user(&b1, "wang.wu").await.unwrap().is_none());
    assert!(catalogue
        .session_owner(&hash('s'), at(3))
        .await
        .unwrap()
        .is_none());
    assert!(catalogue.enable_user(&b1, "wang.wu").await.unwrap());
    assert!(!catalogue.enable_user(&b1, "nobody").await.unwrap());
    assert!(catalogue.user(&b1, "wang.wu").await.unwrap().is_some());
    assert!(
        catalogue
            .session_owner(&hash('s'), at(3))
            .await
            .unwrap()
            .is_none(),
        "enabling the account brought a session back"
    );

    // Login throttles: read, changed and written together; a default state is removed.
    let keys = vec![
        "account:b1/wang.wu".to_owned(),
        "address:10.0.0.1".to_owned(),
    ];
    let read = |keys: Vec<String>| {
        let catalogue = catalogue.clone();
        async move {
            let mut seen = Vec::new();
            catalogue
                .update_login_throttles(&keys, at(3), &mut |states| seen = states.to_vec())
                .await
                .unwrap();
            seen
        }
    };
    catalogue
        .update_login_throttles(&keys, at(3), &mut |states| {
            states[0].failures = 2;
            states[0].window_started_at = Some(at(3));
            states[1].blocked_until = Some(at(4));
            states[1].audit_bureau = Some("b1".into());
        })
        .await
        .unwrap();
    let seen = read(keys.clone()).await;
    assert_eq!(
        (seen[0].failures, seen[0].window_started_at),
        (2, Some(at(3)))
    );
    assert_eq!(
        (seen[1].blocked_until, seen[1].audit_bureau.as_deref()),
        (Some(at(4)), Some("b1"))
    );
    // Twenty logins at once, each adding a failure: none is lost.
    let mut at_once = Vec::new();
    for _ in 0..20 {
        let catalogue = catalogue.clone();
        at_once.push(tokio::spawn(async move {
            catalogue
                .update_login_throttles(&["account:b1/new".to_owned()], at(3), &mut |states| {
                    states[0].failures += 1;
                })
                .await
                .unwrap();
        }));
    }
    for task in at_once {
        task.await.unwrap();
    }
    assert_eq!(read(vec!["account:b1/new".into()]).await[0].failures, 20);
    // Stale ones are taken away, but not one still blocked.
    let stale = catalogue
        .take_stale_login_throttles(at(3) + Duration::seconds(1))
        .await
        .unwrap();
    let mut stale_keys: Vec<&str> = stale.iter().map(|(k, _)| k.as_str()).collect();
    stale_keys.sort();
    assert_eq!(stale_keys, vec!["account:b1/new", "account:b1/wang.wu"]);
    assert_eq!(
        read(vec![keys[1].clone()]).await[0].blocked_until,
        Some(at(4))
    );
    catalogue
        .update_login_throttles(&keys[1..], at(3), &mut |states| {
            states[0] = Default::default()
        })
        .await
        .unwrap();
    assert!(catalogue
        .take_stale_login_throttles(at(23))
        .await
        .unwrap()
        .is_empty());
}

async fn sqlite() -> (Arc<dyn Catalogue>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("catalogue.db").display());
    (catalogue::connect(&url, 4).await.unwrap(), dir)
}

async fn postgres() -> Arc<dyn Catalogue> {
    catalogue::connect(&fresh_postgres_url().await, 4)
        .await
        .unwrap()
}

/// One test per behaviour for each adapter, each on a catalogue of its own: `sqlite::NAME`
/// in a temporary directory, `postgres::NAME` in a fresh database.
/// Art. 19: a clip is queued for its sidecar when recorded and again whenever something the
/// sidecar carries changes (its classification, a case link, its case), and not for work that
/// changes nothing it carries; a sidecar written from a record that changed meanwhile leaves
/// the clip queued. A rebuilt trail can start past 1, once.
async fn sidecars_are_queued_by_every_change_they_carry(catalogue: Arc<dyn Catalogue>) {
    let Recorded { b1, clips, .. } = recorded(&*catalogue).await;
    let generation = |due: Vec<(ClipId, i64)>, clip: ClipId| {
        due.iter().find(|(id, _)| *id == clip).map(|(_, g)| *g)
    };
    let first = clips[0].id;
    let due = catalogue.sidecars_due(100).await.unwrap();
    assert_eq!(due.len(), 8, "every recorded clip is queued: {due:?}");
    for (clip, generation) in &due {
        assert!(catalogue.sidecar_written(*clip, *generation).await.unwrap());
    }
    assert!(catalogue.sidecars_due(100).await.unwrap().is_empty());

    // Work that changes nothing a sidecar carries.
    catalogue.next_publish_round(first, at(5)).await.unwrap();
    assert!(catalogue.sidecars_due(100).await.unwrap().is_empty());

    let classification = Classification {
        category: "行政检查".into(),
        description: "现场".into(),
        place: None,
        important: false,
        matter: None,
        party: None,
    };
    assert!(catalogue
        .classify(&b1, first, &classification, "name", "archivist", at(6))
        .await
        .unwrap());
    let read = generation(catalogue.sidecars_due(100).await.unwrap(), first).unwrap();
    // Changed again before the sidecar read at `read` was stored: it stays queued.
    let case = new_case(&b1, "应急罚〔2026〕9号");
    catalogue.create_case(&case).await.unwrap();
    catalogue
        .link_clips(case.id, &[first, clips[1].id], "archivist", at(7))
        .await
        .unwrap();
    assert!(!catalogue.sidecar_written(first, read).await.unwrap());
    let due = catalogue.sidecars_due(100).await.unwrap();
    assert_eq!(due.len(), 2, "{due:?}");
    for (clip, generation) in &due {
        assert!(catalogue.sidecar_written(*clip, *generation).await.unwrap());
    }
    let linked = catalogue.clip_cases(first).await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(
        (
            linked[0].case.id,
            linked[0].linked_by.as_str(),
            linked[0].long_term
        ),
        (case.id, "archivist", false)
    );

    // A change to the case requeues every clip it holds.
    assert!(catalogue
        .set_case_long_term(&b1, case.id, true)
        .await
        .unwrap());
    let mut due: Vec<ClipId> = catalogue
        .sidecars_due(100)
        .await
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    due.sort();
    let mut expected = vec![first, clips[1].id];
    expected.sort();
    assert_eq!(due, expected);
    assert!(catalogue.clip_cases(first).await.unwrap()[0].long_term);
    assert_eq!(
        catalogue.bureau_name(&b1).await.unwrap().as_deref(),
        Some("一大队")
    );
    assert_eq!(catalogue.clip_count().await.unwrap(), 8);

    // A trail restarted after an anchor at 41, in a bureau with no trail yet; only once.
    let anchor = custodian_core::audit::Checkpoint {
        bureau: "b9".into(),
        seq: 41,
        hash: "ab".repeat(32),
        at: at(1),
        signature: String::new(),
    };
    let entry = custodian_core::audit::restart(
        "b9",
        Some(&anchor),
        custodian_core::audit::NewAuditEntry {
            at: at(8),
            actor: "rebuild".into(),
            action: String::new(),
            target: None,
            detail: "restarted".into(),
        },
    );
    assert!(catalogue.restart_audit(&entry).await.unwrap());
    assert!(!catalogue.restart_audit(&entry).await.unwrap());
    let trail = catalogue.audit_entries("b9", 0, 10).await.unwrap();
    assert_eq!(trail, vec![entry]);
    let next = catalogue
        .append_audit(
            "b9",
            custodian_core::audit::NewAuditEntry {
                at: at(9),
                actor: "rebuild".into(),
                action: "ingest.restored".into(),
                target: None,
                detail: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (next.seq, next.prev_hash.as_str()),
        (43, trail[0].hash.as_str())
    );
}

macro_rules! catalogue_test_suite {
    ($($behaviour:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let (catalogue, _dir) = super::sqlite().await;
                    super::$behaviour(catalogue).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(super::postgres().await).await;
                }
            )+
        }
    };
}

catalogue_test_suite!(
    tokens_are_found_by_their_hash,
    a_recorded_clip_reads_back_in_its_own_bureau,
    a_clip_is_recorded_once_and_only_from_a_pending_upload,
    clips_are_listed_newest_first_filtered_and_paged,
    transitions_are_conditional_and_kept_in_the_history,
    stuck_clips_come_oldest_first_and_a_nudge_restarts_the_clock,
    stale_uploads_are_found_and_claimed_once,
    upload_deadlines_move_only_from_what_they_were,
    classifications_keep_the_first_time_and_every_entry,
    clips_are_found_by_category_text_and_overdue_classification,
    placed_clips_are_found_in_their_box,
    cases_are_unique_per_bureau_linked_once_and_closed_once,
    devices_are_registered_per_bureau,
    overdue_deadlines_are_counted_per_bureau_and_kind,
    holds_and_long_term_reasons_decide_expiry_and_archiving,
    recycled_clips_are_restored_or_purged_to_a_tombstone,
    the_scrub_visits_the_least_recently_verified_first,
    findings_are_kept_and_found_by_severity,
    a_tombstone_counts_as_expired_and_holds_no_bytes,
    cases_close_on_their_date_and_are_listed,
    classifications_keep_matter_and_party,
    teams_and_the_registry_check,
    credentials_speak_for_their_officer,
    returns_to_the_office_and_special_circumstances,
    party_copies,
    credentials,
    token_certificate_bindings,
    records_have_kinds_types_and_searchable_text,
    sidecars_are_queued_by_every_change_they_carry,
);
