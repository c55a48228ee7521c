#include "wire/convert.h"

#include <array>
#include <charconv>
#include <cstring>

#include "base/coding.h"

namespace strata::wire {

Result<Uuid> FromWire(const event_store::client::UUID& id) {
  if (id.has_string()) return Uuid::Parse(id.string());
  if (id.has_structured()) {
    char b[16];
    PutBigEndian64(b, static_cast<uint64_t>(id.structured().most_significant_bits()));
    PutBigEndian64(b + 8, static_cast<uint64_t>(id.structured().least_significant_bits()));
    return Uuid::FromBytes(b);
  }
  return Error(ErrorCode::kInvalidEventId,
               "the event has no id; give every event a UUID (string or structured)");
}

void ToWire(const Uuid& id, bool structured, event_store::client::UUID* out) {
  if (structured) {
    auto* s = out->mutable_structured();
    s->set_most_significant_bits(static_cast<int64_t>(GetBigEndian64(id.data())));
    s->set_least_significant_bits(static_cast<int64_t>(GetBigEndian64(id.data() + 8)));
  } else {
    out->set_string(id.ToString());
  }
}

std::string CreatedTicks(int64_t recorded_us) { return std::to_string(recorded_us * 10); }

namespace {
using WireEvent = event_store::client::streams::ReadResp::ReadEvent::RecordedEvent;

void FillEvent(const RecordedEvent& e, bool structured_ids, WireEvent* ev) {
  ToWire(e.event_id, structured_ids, ev->mutable_id());
  ev->mutable_stream_identifier()->set_stream_name(e.stream);
  ev->set_stream_revision(e.revision.value());
  ev->set_prepare_position(e.position.value());
  ev->set_commit_position(e.position.value());
  auto& md = *ev->mutable_metadata();
  md["type"] = e.type;
  md["content-type"] = e.content_type;
  md["created"] = CreatedTicks(e.recorded_ts);
  ev->set_custom_metadata(e.metadata);
  ev->set_data(e.data);
}

// The link event KurrentDB would have written for `e` in its index stream. Its id is derived
// from the original's (FNV-1a of the index stream and revision folded in), so it is stable.
void FillLink(const RecordedEvent& e, bool structured_ids, WireEvent* ev) {
  const LinkRef& l = *e.link;
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  mix(l.stream);
  mix(std::to_string(l.revision.value()));
  std::array<uint8_t, 16> id;
  std::memcpy(id.data(), e.event_id.data(), 16);
  for (int i = 0; i < 8; ++i) id[i] ^= static_cast<uint8_t>(h >> (8 * i));
  id[6] = static_cast<uint8_t>((id[6] & 0x0f) | 0x50);  // version 5: name-based
  id[8] = static_cast<uint8_t>((id[8] & 0x3f) | 0x80);
  ToWire(Uuid::FromBytes(reinterpret_cast<const char*>(id.data())), structured_ids,
         ev->mutable_id());
  ev->mutable_stream_identifier()->set_stream_name(l.stream);
  ev->set_stream_revision(l.revision.value());
  ev->set_prepare_position(e.position.value());
  ev->set_commit_position(e.position.value());
  auto& md = *ev->mutable_metadata();
  md["type"] = "$>";
  md["content-type"] = "application/octet-stream";
  md["created"] = CreatedTicks(e.recorded_ts);
  ev->set_data(std::to_string(e.revision.value()) + "@" + e.stream);
}
}  // namespace

void ToWire(const RecordedEvent& e, bool structured_ids,
            event_store::client::streams::ReadResp* out, bool resolve_links) {
  auto* re = out->mutable_event();
  if (e.link && !resolve_links) {
    FillLink(e, structured_ids, re->mutable_event());
  } else {
    FillEvent(e, structured_ids, re->mutable_event());
    if (e.link) FillLink(e, structured_ids, re->mutable_link());
  }
  re->set_commit_position(e.position.value());
}

Result<RecordedEvent> FromWire(const event_store::client::streams::ReadResp::ReadEvent& re) {
  if (!re.has_event()) {
    return Error(ErrorCode::kInvalidArgument, "a ReadResp.event without its recorded event");
  }
  const auto& ev = re.event();
  RecordedEvent out;
  auto id = FromWire(ev.id());
  if (!id) return id.error();
  out.event_id = *id;
  out.stream = ev.stream_identifier().stream_name();
  out.revision = Revision(ev.stream_revision());
  out.position = Position(ev.commit_position());
  const auto& md = ev.metadata();
  if (auto it = md.find("type"); it != md.end()) out.type = it->second;
  if (auto it = md.find("content-type"); it != md.end()) out.content_type = it->second;
  if (auto it = md.find("created"); it != md.end()) {
    int64_t ticks = 0;
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), ticks);
    out.recorded_ts = ticks / 10;
  }
  out.metadata = ev.custom_metadata();
  out.data = ev.data();
  if (re.has_link()) {
    out.link =
        LinkRef{re.link().stream_identifier().stream_name(), Revision(re.link().stream_revision())};
  }
  return out;
}

using Options = event_store::client::streams::ReadReq::Options;

AllFilter FilterFrom(const Options& o, uint32_t* checkpoint_every) {
  AllFilter f;
  *checkpoint_every = 1000;
  if (o.filter_option_case() != Options::kFilter) return f;
  const auto& fo = o.filter();
  auto apply = [](const Options::FilterOptions::Expression& e, std::vector<std::string>* prefixes,
                  std::string* regex) {
    for (const auto& p : e.prefix()) prefixes->push_back(p);
    *regex = e.regex();
  };
  if (fo.has_stream_identifier())
    apply(fo.stream_identifier(), &f.stream_prefixes, &f.stream_regex);
  if (fo.has_event_type()) apply(fo.event_type(), &f.type_prefixes, &f.type_regex);
  uint32_t window = fo.window_case() == Options::FilterOptions::kMax ? fo.max() : 32;
  uint32_t mult = fo.checkpointintervalmultiplier() ? fo.checkpointintervalmultiplier() : 1;
  *checkpoint_every = std::max<uint32_t>(
      1, static_cast<uint32_t>(std::min<uint64_t>(uint64_t{window} * mult, UINT32_MAX)));
  return f;
}

Status FilterToWire(const AllFilter& f, Options* o) {
  const bool on_streams = !f.stream_prefixes.empty() || !f.stream_regex.empty();
  const bool on_types = !f.type_prefixes.empty() || !f.type_regex.empty() || f.exclude_system;
  if (!on_streams && !on_types) {
    o->mutable_no_filter();
    return OkStatus();
  }
  if (on_streams && on_types) {
    return Error(ErrorCode::kInvalidArgument,
                 "a KurrentDB filter is on stream names or on event types, not both; drop one");
  }
  if (f.exclude_system && (!f.type_prefixes.empty() || !f.type_regex.empty())) {
    return Error(ErrorCode::kInvalidArgument,
                 "--exclude-system is a type filter of its own; it cannot be combined with "
                 "other type filters");
  }
  auto* fo = o->mutable_filter();
  auto* e = on_streams ? fo->mutable_stream_identifier() : fo->mutable_event_type();
  for (const auto& p : on_streams ? f.stream_prefixes : f.type_prefixes) e->add_prefix(p);
  e->set_regex(on_streams ? f.stream_regex : (f.exclude_system ? "^[^$]" : f.type_regex));
  fo->mutable_count();
  fo->set_checkpointintervalmultiplier(1);
  return OkStatus();
}

}  // namespace strata::wire
