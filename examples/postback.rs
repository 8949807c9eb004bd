//! A day in the life of a postback: a visitor arrives through a tracked
//! link, the operator's backend reports the purchase with a signed
//! postback, we verify and attribute it, and render the partner's outbound
//! postback. A forged and a replayed postback are refused on the way.
//!
//! Run with `cargo run --example postback`.

use attributor::{
    AffiliateId, Attributor, ClickStore, CouponCode, LinkParams, MemoryBindingStore, MemoryClickStore,
    MemoryCodeRegistry, MemoryLedger, Policy, PostbackParser, PostbackSigner, PostbackTemplate,
    PostbackVerifier, SIGNATURE_HEADER, TIMESTAMP_HEADER, TrackedLink,
};
use chrono::{TimeDelta, TimeZone, Utc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc
        .with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .ok_or("bad date")?;
    let network = AffiliateId::new(21); // an affiliate network with its own tracker
    let creator = AffiliateId::new(7); // a creator with a vanity code

    // The stores: the creator's code, and the click of a visitor who came
    // through the network's tracked link two days ago.
    let registry = MemoryCodeRegistry::new();
    registry.assign(CouponCode::parse("MKBHD10")?, creator, now - TimeDelta::days(90))?;
    let params = LinkParams::default();
    let landing = TrackedLink::new(network)
        .with_click("nw-8842".parse()?)
        .with_sub(1, "native-ads".parse()?)
        .with_sub(2, "placement-19".parse()?)
        .build("https://prop.example/challenge?plan=50k#pricing", &params)?;
    println!("visitor lands on {landing}");
    let click =
        TrackedLink::parse(&landing, &params)?.to_click(now - TimeDelta::days(2), "trader-5".parse()?)?;
    let clicks = MemoryClickStore::new();
    clicks.insert(click)?;
    println!(
        "recorded click {} of affiliate {} for visitor trader-5",
        click.id, click.affiliate
    );

    let attributor = Attributor::new(
        registry,
        clicks,
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        Policy::click_first(),
    );

    // The operator's backend reports the purchase, signed with the shared
    // secret. It is rotating secrets: it still signs with the old one.
    let (new_secret, old_secret) = (b"whsec-2026-06".as_slice(), b"whsec-2026-01".as_slice());
    let body = "transaction_id=CH-1001&event=challenge_purchase&timestamp=2026-06-01T11%3A59%3A40Z\
                &click_id=nw-8842&code=mkbhd10&amount=155&currency=USD&customer_id=trader-5";
    let sent_at = now - TimeDelta::seconds(4);
    let signature = PostbackSigner::new(old_secret).sign(sent_at, body.as_bytes());
    let timestamp = sent_at.timestamp().to_string();
    println!("inbound postback: {body}");
    println!("  {TIMESTAMP_HEADER}: {timestamp}");
    println!("  {SIGNATURE_HEADER}: {signature}");

    let verifier = PostbackVerifier::new(new_secret).with_previous_secret(old_secret);
    let signed_at = verifier.verify(Some(&timestamp), Some(&signature), body.as_bytes(), now)?;
    println!("signature verified: signed at {signed_at}, by a secret we accept");

    let conversion = PostbackParser::new().parse(body)?;
    let decision = attributor.attribute(&conversion)?;
    println!("{decision}");

    // The network asked for a postback to its tracker for each conversion
    // credited to it; the click as stored gives it its sub ids back.
    let template = PostbackTemplate::parse(
        "https://tracker.network.example/postback?clickid={click_id}&txid={transaction_id}\
         &goal={event}&sale={amount}&cur={currency}&s1={sub1}&s2={sub2}&ts={timestamp_unix}",
    )?;
    if decision.decision.primary() == Some(network) {
        let stored = attributor.clicks().click(&click.id)?;
        let outbound = template.render(&conversion, &decision.decision, stored.as_ref());
        println!("outbound postback: GET {outbound}");
    }

    // A forged postback and a replay an hour later are refused.
    let forged = body.replace("amount=155", "amount=1550");
    match verifier.verify(Some(&timestamp), Some(&signature), forged.as_bytes(), now) {
        Err(e) => println!("forged postback refused: {e}"),
        Ok(_) => return Err("a forged postback was accepted".into()),
    }
    let later = now + TimeDelta::hours(1);
    match verifier.verify(Some(&timestamp), Some(&signature), body.as_bytes(), later) {
        Err(e) => println!("replayed postback refused: {e}"),
        Ok(_) => return Err("a replayed postback was accepted".into()),
    }
    Ok(())
}
