// The page kb serves at /: the chat, talking to this same server.
import { mountChat } from "./chat.js";

// kb's address is where this module came from, so the page also works behind a path prefix.
mountChat(document.getElementById("kb-chat"), { baseUrl: new URL("..", import.meta.url).href });
