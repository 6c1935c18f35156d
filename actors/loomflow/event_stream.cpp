#include "loomflow/event_stream.hpp"

#include "loomflow/actors/event_channel.hpp"
#include "loomflow/runtime.hpp"

namespace loomflow {

EventStream::EventStream(std::shared_ptr<actors::EventChannel> channel, std::shared_ptr<const RunHandle> run,
                         StreamOptions::OnAbandon on_abandon)
    : channel_(std::move(channel)), run_(std::move(run)), on_abandon_(on_abandon) {}

EventStream& EventStream::operator=(EventStream&& other) noexcept {
  if (this != &other) {
    abandon();
    channel_ = std::move(other.channel_);
    run_ = std::move(other.run_);
    on_abandon_ = other.on_abandon_;
    ended_ = other.ended_;
  }
  return *this;
}

EventStream::~EventStream() { abandon(); }

void EventStream::abandon() {
  if (!channel_ || ended_) return;
  // Nobody reads any more: producers must not wait for this consumer.
  channel_->detach();
  if (on_abandon_ == StreamOptions::OnAbandon::cancel) run_->cancel();
  ended_ = true;
}

namespace {

std::optional<RunEvent> taken(actors::EventChannel::Take take, RunEvent& event, bool& ended) {
  if (take == actors::EventChannel::Take::ended) ended = true;
  if (take != actors::EventChannel::Take::event) return std::nullopt;
  if (event.kind == EventKind::run_finished) ended = true;
  return std::move(event);
}

}  // namespace

std::optional<RunEvent> EventStream::next() {
  if (!channel_ || ended_) return std::nullopt;
  RunEvent event;
  const auto take = channel_->pop(event) ? actors::EventChannel::Take::event : actors::EventChannel::Take::ended;
  return taken(take, event, ended_);
}

std::optional<RunEvent> EventStream::next_for(std::chrono::milliseconds timeout) {
  if (!channel_ || ended_) return std::nullopt;
  RunEvent event;
  return taken(channel_->pop_for(event, timeout), event, ended_);
}

std::optional<RunEvent> EventStream::try_next() {
  if (!channel_ || ended_) return std::nullopt;
  RunEvent event;
  return taken(channel_->try_pop(event), event, ended_);
}

bool EventStream::ended() const { return ended_; }

void EventStream::on_ready(std::function<void()> fn) {
  if (channel_) channel_->on_ready(std::move(fn));
}

std::size_t EventStream::buffered() const { return channel_ ? channel_->buffered() : 0; }

void EventStream::cancel() {
  if (run_) run_->cancel();
}

void EventStream::detach() {
  if (!channel_ || ended_) return;
  channel_->detach();
  ended_ = true;
}

}  // namespace loomflow
