// kb's chat for another site, with one tag: <script src="https://kb.example/widget.js"></script>
// The chat is drawn where the tag stands (or inside an element with data-kb-chat), in a shadow
// root so that the host page's styles and kb's do not touch. It calls kb cross-origin: kb must
// list the host page's origin in KB_CORS_ORIGINS.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var base = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var host = document.querySelector("[data-kb-chat]");
  if (!host) {
    host = document.createElement("div");
    script.after(host);
  }
  host.classList.add("kb-widget");
  var shadow = host.attachShadow({ mode: "open" });
  var style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = base + "/ui/chat.css";
  var container = document.createElement("div");
  shadow.append(style, container);
  import(base + "/ui/chat.js").then(function (chat) {
    return chat.mountChat(container, { baseUrl: base, embedded: true });
  }).catch(function (error) {
    container.textContent = "kb could not load its chat from " + base + ": " + error;
  });
})();
