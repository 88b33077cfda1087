// The page kb serves at /: the chat, talking to this same server.
import { mountChat } from "./chat.js";

mountChat(document.getElementById("kb-chat"), { baseUrl: "" });
