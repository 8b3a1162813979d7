// The console's only script: it improves pages that work without it. On a clip page it draws
// the findings track's cues as marks on the timeline, seeks when a mark or a finding is
// clicked, opens the clip at #t=SECONDS, and gives the classification form its keys.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const video = document.getElementById("player");
  if (video) {
    const seek = (seconds) => {
      video.currentTime = Math.max(0, Number(seconds) || 0);
    };
    document.querySelectorAll("button.seek").forEach((button) => {
      button.addEventListener("click", () => seek(button.dataset.seconds));
    });
    const start = /^#t=(\d+(?:\.\d+)?)$/.exec(window.location.hash);
    if (start) {
      video.addEventListener("loadedmetadata", () => seek(start[1]), { once: true });
    }
    drawFindings(video, seek);
    // The copy has its time and place burned in; the same text as a track stays hidden (its
    // cues load, and the player's menu can show it) instead of doubling the picture's text.
    const subtitles = document.getElementById("subtitles-track");
    if (subtitles) subtitles.track.mode = "hidden";
  }
  const form = document.getElementById("classify");
  if (form) {
    form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit(document.getElementById("save-next"));
      }
    });
  }
  document.addEventListener("keydown", (event) => {
    if (!video || event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(document.activeElement.tagName);
    if (typing) return;
    if (event.key === "j") video.currentTime = Math.max(0, video.currentTime - 5);
    else if (event.key === "k") video.currentTime += 5;
    else if (event.key === " ") {
      event.preventDefault();
      if (video.paused) video.play(); else video.pause();
    } else return;
  });
});

// The findings arrive as a metadata text track; each cue becomes a mark at its place.
function drawFindings(video, seek) {
  const timeline = document.getElementById("timeline");
  const element = document.getElementById("findings-track");
  if (!timeline || !element) return;
  const track = element.track;
  track.mode = "hidden";
  const draw = () => {
    const duration = video.duration || Number(video.dataset.duration) || 0;
    if (!duration || !track.cues) return;
    timeline.replaceChildren();
    for (const cue of Array.from(track.cues)) {
      let label = "";
      try { label = JSON.parse(cue.text).kind; } catch (e) { label = cue.text; }
      const mark = document.createElement("button");
      mark.type = "button";
      mark.className = "mark";
      mark.title = label;
      mark.tabIndex = -1;
      mark.style.left = (100 * cue.startTime / duration) + "%";
      mark.style.width = (100 * (cue.endTime - cue.startTime) / duration) + "%";
      mark.dataset.seconds = String(cue.startTime);
      mark.addEventListener("click", () => seek(cue.startTime));
      timeline.appendChild(mark);
    }
    timeline.dataset.marks = String(track.cues.length);
  };
  element.addEventListener("load", draw);
  video.addEventListener("loadedmetadata", draw);
  if (element.readyState === 2) draw();
}
