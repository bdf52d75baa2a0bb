use super::*;

fn page(id: &str, subject: &str, status: Status, summary: &str) -> Page {
    Page {
        id: id.into(),
        severity: Severity::Critical,
        status,
        venue: "pacifica".into(),
        account: "main".into(),
        subject: subject.into(),
        summary: summary.into(),
        detail: "detail".into(),
        at: Timestamp(0),
    }
}

fn pager(max: u32) -> Pager {
    Pager::new(PagerPolicy {
        repeat_interval: Duration::from_secs(3600),
        max_per_hour: max,
    })
}

const MIN: i64 = 60_000;

#[test]
fn the_same_problem_is_mailed_once_per_repeat_interval() {
    let mut p = pager(100);
    let f = page("drift", "SOL", Status::Firing, "drift 0.5");
    assert!(matches!(p.offer(&f, Timestamp(0)), Verdict::Send(_)));
    assert_eq!(p.offer(&f, Timestamp(30 * MIN)), Verdict::Deduplicated);
    assert!(matches!(p.offer(&f, Timestamp(61 * MIN)), Verdict::Send(_)));
    // Another symbol is another problem.
    let g = page("drift", "ETH", Status::Firing, "drift 0.5");
    assert!(matches!(p.offer(&g, Timestamp(62 * MIN)), Verdict::Send(_)));
    // A new summary for the same problem (something else happened) goes out.
    let h = page("drift", "SOL", Status::Firing, "close failed");
    assert!(matches!(p.offer(&h, Timestamp(63 * MIN)), Verdict::Send(_)));
}

#[test]
fn resolution_is_mailed_once_and_only_for_problems_that_paged() {
    let mut p = pager(100);
    let r = page("drift", "SOL", Status::Resolved, "drift gone");
    assert_eq!(p.offer(&r, Timestamp(0)), Verdict::Deduplicated);
    let f = page("drift", "SOL", Status::Firing, "drift 0.5");
    assert!(matches!(p.offer(&f, Timestamp(0)), Verdict::Send(_)));
    assert_eq!(p.open_problems(), 1);
    let Verdict::Send(mail) = p.offer(&r, Timestamp(MIN)) else {
        panic!("resolution not sent")
    };
    assert!(mail
        .subject
        .starts_with("[driftwatch] RESOLVED drift pacifica/main SOL"));
    assert_eq!(p.offer(&r, Timestamp(2 * MIN)), Verdict::Deduplicated);
    assert_eq!(p.open_problems(), 0);
    // Firing again after resolution pages again at once.
    assert!(matches!(p.offer(&f, Timestamp(3 * MIN)), Verdict::Send(_)));
}

#[test]
fn the_rate_limit_counts_a_sliding_hour_and_reports_what_it_held_back() {
    let mut p = pager(2);
    for (i, s) in ["A", "B"].iter().enumerate() {
        let f = page("drift", s, Status::Firing, "x");
        assert!(matches!(p.offer(&f, Timestamp(i as i64 * MIN)), Verdict::Send(_)));
    }
    let c = page("drift", "C", Status::Firing, "x");
    assert_eq!(p.offer(&c, Timestamp(10 * MIN)), Verdict::RateLimited);
    // Held back, not forgotten: the same problem is offered again later.
    assert_eq!(p.offer(&c, Timestamp(59 * MIN)), Verdict::RateLimited);
    let Verdict::Send(mail) = p.offer(&c, Timestamp(60 * MIN)) else {
        panic!("the window did not slide")
    };
    assert!(mail.body.contains("2 earlier page(s) were not mailed"), "{}", mail.body);
}

#[test]
fn a_rate_limited_problem_resolves_silently() {
    let mut p = pager(0);
    let f = page("drift", "SOL", Status::Firing, "x");
    assert_eq!(p.offer(&f, Timestamp(0)), Verdict::RateLimited);
    let r = page("drift", "SOL", Status::Resolved, "gone");
    assert_eq!(p.offer(&r, Timestamp(MIN)), Verdict::Deduplicated);
}

#[test]
fn mails_say_what_where_and_why() {
    let mut f = page("sol-untracked", "SOL", Status::Firing, &"y".repeat(300));
    f.at = Timestamp(1_700_000_000_000);
    let m = render(&f, 0);
    assert!(m
        .subject
        .starts_with("[driftwatch] CRITICAL sol-untracked pacifica/main SOL: yyy"));
    assert!(m.subject.ends_with('…') && m.subject.chars().count() < 200);
    assert!(m.body.contains("2023-11-14T22:13:20"), "{}", m.body);
    assert!(m.body.contains("detail"));
    let mut whole = page("correction_refused", "", Status::Firing, "mass guard");
    whole.severity = Severity::Warning;
    assert_eq!(
        render(&whole, 0).subject,
        "[driftwatch] WARNING correction_refused pacifica/main: mass guard"
    );
}
