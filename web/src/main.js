// The Local Duel page. Opened plainly it is the host's: settings, Start, the duel, its
// watch link and controls, and the history. Opened from a watch link (`/?watch=…`) it is
// a viewer's: the stage, the transcript, heckles and votes, and nothing to steer with.

import { api } from "./api.js";
import * as audience from "./audience.js";
import { initHistory } from "./history-list.js";
import { busy, host, player, send, showFlowPhases, start, updateButtons, watch } from "./lifecycle.js";
import { initSettings, voices } from "./settings.js";
import { clearError, meterLoop, resetStage, setBubble, setSpeaker, setStatus, showError, showPhase } from "./stage.js";
import "./style.css";

audience.initAudience({ send, join: () => watch(audience.watchSocketUrl()) });
if (!audience.watching) {
  initSettings({ onSubmit: start, phases: showFlowPhases });
  host(initHistory({
    api, player, showPhase, setSpeaker, setBubble, setStatus, showError, clearError, updateButtons, voices, busy,
    resetStage: (duel) => {
      audience.closeRoom();
      resetStage(duel);
    },
  }));
}
meterLoop(player);
