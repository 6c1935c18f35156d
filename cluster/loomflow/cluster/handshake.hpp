// loomflow/cluster/handshake.hpp — joining one member: connect to its published member actor, prove
// the cluster secret and check its proof (see protocol.hpp), and get its welcome. Used by members
// joining each other and by `query_members` (role client). Internal.
//
// `proven(node)` is called once the gate proved the cluster secret, before this side sends its join:
// the gate may start sending (tool calls, heartbeats) as soon as it admitted us, before its welcome
// arrives. `done` is called exactly once, on `self`'s thread, with the joined gate or an error: a refusal
// (wrong secret or certificate, a name already taken) is `permission_denied`; anything that may
// pass with time (unreachable, timed out) is `unavailable`. Nothing blocks: every step is an
// asynchronous request with `access.request_timeout`.
#pragma once

#include <string>
#include <utility>

#include <caf/all.hpp>
#include <caf/io/middleman_actor.hpp>

#include "loomflow/cluster/auth.hpp"
#include "loomflow/cluster/node.hpp"
#include "loomflow/cluster/protocol.hpp"

namespace loomflow::cluster {

struct Joined {
  member_actor gate;
  caf::node_id node;
  cluster_welcome welcome;
};

template <class Self, class Proven, class Done>
void handshake(Self* self, const caf::io::middleman_actor& connector, const std::string& address,
               const ClusterAccess& access, MemberInfo info, caf::actor member, Proven proven, Done done) {
  auto where = parse_address(address, "member address");
  if (!where) {
    done(Expected<Joined>(where.error()));
    return;
  }
  auto fail = [done, address](ErrorCode code, const std::string& why) mutable {
    done(Expected<Joined>(Error{code, address + ": " + why}));
  };
  auto failed_request = [fail](const std::string& step) {
    return [fail, step](caf::error& err) mutable {
      fail(ErrorCode::unavailable, step + ": " + caf::to_string(err));
    };
  };
  const auto timeout = access.request_timeout;
  const std::string secret = access.secret;
  self->request(connector, timeout, caf::connect_atom::value, where->first, where->second)
      .then(
          [=](caf::node_id& node, caf::strong_actor_ptr& ptr, std::set<std::string>&) mutable {
            if (!ptr) {
              fail(ErrorCode::unavailable, "no cluster member listens there");
              return;
            }
            auto gate = caf::actor_cast<member_actor>(ptr);
            const std::string mine = make_nonce();
            self->request(gate, timeout, cluster_hello{info.name, mine})
                .then(
                    [=](cluster_challenge& challenge) mutable {
                      if (challenge.error.code != ErrorCode::ok) {
                        fail(challenge.error.code, "refused this member: " + challenge.error.message);
                        return;
                      }
                      if (!proof_matches(make_proof(secret, "gate", mine, challenge.nonce), challenge.proof)) {
                        fail(ErrorCode::permission_denied,
                             "refused: it does not prove the cluster secret (the secrets differ, or one side has none)");
                        return;
                      }
                      proven(node);
                      cluster_join join{info, challenge.nonce,
                                        make_proof(secret, "join", challenge.nonce, mine, info.name), member};
                      self->request(gate, timeout, std::move(join))
                          .then(
                              [=](cluster_welcome& welcome) mutable {
                                if (welcome.error.code != ErrorCode::ok) {
                                  fail(welcome.error.code, "refused this member: " + welcome.error.message);
                                  return;
                                }
                                done(Expected<Joined>(Joined{gate, node, std::move(welcome)}));
                              },
                              failed_request("join"));
                    },
                    failed_request("hello"));
          },
          [fail](caf::error& err) mutable {
            // A TLS refusal (either side's) is a connection closed during the handshake: no retry helps.
            if (err == caf::sec::disconnect_during_handshake) {
              fail(ErrorCode::permission_denied,
                   "refused during the connection handshake: under TLS, a certificate the other side's CA "
                   "file does not trust (or TLS on one side only)");
              return;
            }
            fail(ErrorCode::unavailable, "cannot connect: " + caf::to_string(err));
          });
}

}  // namespace loomflow::cluster
