// Model actors: one per provider. A cheap synchronous provider answers inline; a blocking one gets
// a detached worker per call so the cooperative scheduler never waits on I/O; an asynchronous one
// is started inline and answers later through a model_done message, holding no thread meanwhile.
#include <unordered_map>

#include <caf/all.hpp>

#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

namespace {

model_result to_result(Expected<ModelResponse> out) {
  model_result result;
  if (out)
    result.response = std::move(*out);
  else
    result.error = std::move(out).error();
  return result;
}

model_result call_provider(Provider& provider, const model_call& call) {
  try {
    return to_result(provider.complete(call.request));
  } catch (const std::exception& e) {
    return to_result(Error{ErrorCode::model_error,
                           std::string(provider.name()) + " provider threw an exception: " + e.what()});
  }
}

model_actor::behavior_type model_worker(model_actor::pointer self, std::shared_ptr<Provider> provider) {
  return {
      [self, provider](model_call& call) {
        self->quit();
        return call_provider(*provider, call);
      },
      [](model_done_atom, std::uint64_t, model_result&) {},
      [](model_cancel_atom, const std::string&) {},
  };
}

struct AsyncEndpointState {
  std::uint64_t next_call = 0;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<model_result>> pending;
  static inline const char* name = "loomflow.model_endpoint";
};

model_actor::behavior_type async_endpoint(model_actor::stateful_pointer<AsyncEndpointState> self,
                                          std::shared_ptr<Provider> provider) {
  return {
      [self, provider](model_call& call) -> caf::typed_response_promise<model_result> {
        auto promise = self->make_response_promise<model_result>();
        const auto id = self->state.next_call++;
        self->state.pending.emplace(id, promise);
        // The completion may run on any thread: it only sends a message back to this actor.
        auto me = caf::actor_cast<model_actor>(self);
        try {
          provider->start(std::move(call.request), [me, id](Expected<ModelResponse> out) {
            caf::anon_send(me, model_done_atom::value, id, to_result(std::move(out)));
          });
        } catch (const std::exception& e) {
          caf::anon_send(me, model_done_atom::value, id,
                         to_result(Error{ErrorCode::model_error, std::string(provider->name()) +
                                                                     " provider threw an exception: " + e.what()}));
        }
        return promise;
      },
      [self](model_done_atom, std::uint64_t id, model_result& result) {
        auto it = self->state.pending.find(id);
        if (it == self->state.pending.end()) return;  // a second completion: ignored, the first one counted
        it->second.deliver(std::move(result));
        self->state.pending.erase(it);
      },
      [provider](model_cancel_atom, const std::string& call_id) { provider->cancel(call_id); },
  };
}

model_actor::behavior_type model_endpoint(model_actor::pointer self, std::shared_ptr<Provider> provider) {
  if (provider->blocking()) {
    return {
        [self, provider](model_call& call) -> caf::delegated<model_result> {
          return self->delegate(self->spawn<caf::detached>(model_worker, provider), std::move(call));
        },
        [](model_done_atom, std::uint64_t, model_result&) {},
        [](model_cancel_atom, const std::string&) {},  // a blocking call cannot be interrupted
    };
  }
  return {
      [provider](model_call& call) { return call_provider(*provider, call); },
      [](model_done_atom, std::uint64_t, model_result&) {},
      [](model_cancel_atom, const std::string&) {},  // inline calls are over before a cancel arrives
  };
}

}  // namespace

model_actor spawn_model(caf::actor_system& sys, std::shared_ptr<Provider> provider) {
  if (provider->asynchronous()) return sys.spawn(async_endpoint, std::move(provider));
  return sys.spawn(model_endpoint, std::move(provider));
}

}  // namespace loomflow::actors
