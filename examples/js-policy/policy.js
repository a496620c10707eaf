// `js-weighted-random`: a Switchyard balancing policy written in JavaScript.
//
// Each pick draws an available endpoint at random in proportion to its effective
// weight (weight × the host's weight factor), then up to two more distinct ones as
// fallbacks. A request carrying `x-prefer-endpoint: HOST:PORT` naming a member goes
// there first (handy to pin a debugging session to one instance).
//
// Build with `./build.sh` (componentize-js); the result, `js-weighted-random.wasm`, is
// loaded like any policy. The JavaScript engine inside the component needs more than
// the default 16 MiB of memory: give the cluster `policy_limits = { memory_mib = 64 }`.

import { random } from 'switchyard:policy/host@0.1.0';

const PIN_HEADER = 'x-prefer-endpoint';
const FALLBACKS = 2;

let members = [];
let weights = [];
let total = 0;

// A uniform number in [0, 1) from the host's 64 random bits.
function uniform() {
  return Number(random() >> 11n) / 2 ** 53;
}

function draw(skip) {
  let remaining = total - skip.reduce((sum, i) => sum + weights[i], 0);
  if (remaining <= 0) {
    return -1;
  }
  let target = uniform() * remaining;
  let last = -1;
  for (let i = 0; i < members.length; i++) {
    if (skip.includes(i) || weights[i] <= 0) {
      continue;
    }
    last = i;
    if (target < weights[i]) {
      return i;
    }
    target -= weights[i];
  }
  return last;
}

function preference(ids) {
  const padded = [...ids, 0, 0, 0, 0].slice(0, 4);
  return { len: ids.length, ids: padded };
}

export const balancing = {
  describe() {
    return {
      name: 'js-weighted-random',
      description: 'random in proportion to effective weight, pinnable by header (JavaScript)',
      configKeys: [],
    };
  },

  init(setup) {
    for (const [key] of setup.config) {
      throw `policy_config.${key}: unknown key (this policy knows: no keys)`;
    }
    return {
      method: false,
      authority: false,
      path: false,
      clientAddr: false,
      headers: [PIN_HEADER],
      hashOn: undefined,
    };
  },

  setMembers(list) {
    const available = list.filter((m) => m.health !== 'unavailable');
    members = available.length > 0 ? available : list;
    weights = members.map((m) => m.weight * Math.min(Math.max(m.weightFactor, 0), 1));
    total = weights.reduce((sum, w) => sum + w, 0);
    if (total <= 0) {
      weights = members.map(() => 1);
      total = members.length;
    }
  },

  pick(request) {
    if (members.length === 0) {
      return preference([]);
    }
    const chosen = [];
    const pinned = (request.headers || []).find(([name]) => name === PIN_HEADER);
    if (pinned) {
      const at = members.findIndex((m) => m.address === pinned[1]);
      if (at >= 0) {
        chosen.push(at);
      }
    }
    while (chosen.length < Math.min(1 + FALLBACKS, members.length)) {
      const next = draw(chosen);
      if (next < 0) {
        break;
      }
      chosen.push(next);
    }
    return preference(chosen.map((i) => members[i].id));
  },

  saveState() {
    return new Uint8Array();
  },

  restoreState(_state) {},
};
