// Model actors: one per provider. A non-blocking provider answers inline; a blocking one (network)
// gets a detached worker per call so the cooperative scheduler never waits on I/O.
#include <caf/all.hpp>

#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

namespace {

model_result call_provider(Provider& provider, const model_call& call) {
  model_result result;
  Expected<ModelResponse> out = Error{ErrorCode::internal, {}};
  try {
    out = provider.complete(call.request);
  } catch (const std::exception& e) {
    out = Error{ErrorCode::model_error, std::string(provider.name()) + " provider threw an exception: " + e.what()};
  }
  if (out)
    result.response = std::move(*out);
  else
    result.error = std::move(out).error();
  return result;
}

model_actor::behavior_type model_worker(model_actor::pointer self, std::shared_ptr<Provider> provider) {
  return {
      [self, provider](model_call& call) {
        self->quit();
        return call_provider(*provider, call);
      },
  };
}

model_actor::behavior_type model_endpoint(model_actor::pointer self, std::shared_ptr<Provider> provider) {
  if (provider->blocking()) {
    return {
        [self, provider](model_call& call) -> caf::delegated<model_result> {
          return self->delegate(self->spawn<caf::detached>(model_worker, provider), std::move(call));
        },
    };
  }
  return {
      [provider](model_call& call) { return call_provider(*provider, call); },
  };
}

}  // namespace

model_actor spawn_model(caf::actor_system& sys, std::shared_ptr<Provider> provider) {
  return sys.spawn(model_endpoint, std::move(provider));
}

}  // namespace loomflow::actors
