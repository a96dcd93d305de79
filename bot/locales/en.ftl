# Every text the bot shows, in English. Telegram HTML parse mode: the bot escapes every value before it
# reaches a message, so the tags here are the only markup. Keep ru.ftl's keys and placeables the same
# (a test compares them).

locale-name = English

## /start and /help

welcome =
    Hi, { $name }! I summarize what you send me, privately: the text is only ever read inside an attested enclave.

    • Forward me a post or paste a text.
    • Send me a link: I read the article and summarize it.
    • In any chat, type my name and a link to share a summary.
    • Add me to your channel as an admin: long posts get a ✨ Summary button.
help =
    <b>What I do</b>
    • A forwarded post or a pasted text → its summary.
    • A link → the article on the page, summarized, with its title and source.
    • Inline: type <code>@{ $bot } https://…</code> in any chat.
    • Channels: make me an admin with the right to edit messages; I add a ✨ Summary button under long posts.

    /start: welcome · /help: this message
    /balance: your credit · /topup: add credit · /settings: summary language and length, the bot’s language
    /history: your recent summaries · /privacy: who can see what

## Summaries in the private chat

too-short = Send me a text of at least { $min } characters, a forwarded post or a link, and I will summarize it.
nothing-to-summarize = Send me a text, a forwarded post or a link, and I will summarize it.
reading = ⏳ Reading the page…
summarizing = ⏳ Summarizing…
summary-failed = I could not make a summary right now. Please try again in a minute.
summary-busy = Many people are asking for summaries right now. Please try again in a minute.
summary-missing = This summary is no longer available. Tap the ✨ Summary button under the post again.
page-error = { $code ->
    [invalid-url] This does not look like a link I can open.
    [unsupported-scheme] I only open http and https links.
    [refused-address] I can’t open this link: it leads to a private or local network address.
    [dns-failed] I could not find this site. Is the address right?
    [too-many-redirects] This link redirects too many times.
    [http-status] The site answered with an error ({ $status }).
    [unsupported-content-type] This link is not a web page or a text I can read.
    [invalid-body] The page could not be read.
    [timeout] The page took too long to load.
    [no-article] I could not find an article on this page.
   *[other] I could not load the page. Please try again later.
  }

## Channels

summary-button = ✨ Summary
tap-failed = Could not summarize this post right now. Please try again in a minute.
added-to-channel = I was added to <b>{ $channel }</b>. Long posts will get a ✨ Summary button.
channel-settings-link = <a href="{ $link }">Open the channel’s summary settings</a>
missing-edit-right =
    ⚠️ I can’t add the ✨ Summary button in <b>{ $channel }</b>: I need the admin right “Edit messages of others”. Please grant it in the channel’s admin settings.
not-channel-admin = Only admins of this channel can change its summary settings.
unknown-channel = I am not in this channel (any more). Add me as an admin first.
settings-saved = Saved
channel-settings =
    <b>{ $channel }</b>: summary settings

    Summaries: { $enabled ->
        [yes] on
       *[no] off
    }
    Length: { length-name }
    Language: { $language ->
        [auto] the post’s own
       *[other] { language-name }
    }
    Posts from { $min } characters
    Paid by: { $payer ->
        [sponsor] the channel’s sponsor budget
       *[reader] each reader
    }
channel-button-enabled = Summaries: { $enabled ->
        [yes] on ✅
       *[no] off ⏸
    }
channel-button-length = Length: { length-name }
channel-button-language = Language: { $language ->
        [auto] post’s own
       *[other] { language-name }
    }
channel-button-min = From { $min } characters
channel-button-payer = Paid by: { $payer ->
        [sponsor] sponsor budget
       *[reader] reader
    }

## Names of summary settings

language-name = { $language ->
    [en] English
    [ru] Russian
   *[other] { $language }
  }
length-name = { $length ->
    [short] short
    [bullets] bullets
   *[detailed] detailed
  }

## Inline mode

inline-hint = Paste a link to summarize
inline-still-reading = Still reading… try again in a moment

## Credit and payments

balance =
    <b>Your credit</b>: { $balance }
    Free summaries left today: { $freeLeft } of { $freeDaily }

    Add credit with /topup.
topup =
    <b>Add credit</b>
    Pay with Telegram Stars (1 ⭐ = { $rate }) or with TON in the app.
topup-button = ⭐ { $stars } → { $amount }
topup-app-button = 💎 Top up with TON
invoice-title = { $stars } Stars of summary credit
invoice-description = Adds { $amount } of credit for private summaries in the Cocoon network.
job-invoice-title = One summary
job-invoice-description = Pays for summarizing your long text (up to { $estimate }); what is left stays as credit. Refunded if the summary fails.
unknown-payment = This offer is no longer valid. Please open /topup again.
credited = ✅ { $amount } added. Your credit: { $balance }.
refunded = The summary failed, so your { $stars } ⭐ were refunded.
payment-required = { $freeDaily ->
        [0] Your credit
       *[other] You have used your { $freeDaily } free summaries for today, and your credit
    } ({ $balance }) does not cover this summary (up to { $estimate }). Add credit with /topup.
payment-required-alert = No free summaries left today. Add credit in the bot with /topup to read this summary.
confirm-job =
    This text is long ({ $chars } characters). Its summary costs up to <b>{ $estimate }</b>.
    { $freeLeft ->
        [0] Your credit: { $balance }.
       *[other] It will use one of your { $freeLeft } free summaries left today.
    }
confirm-button = ✅ Summarize
pay-job-button = ⭐ Pay { $stars } Stars and summarize
job-expired = This request expired. Please send the text again.

## /settings, /history, /privacy

settings =
    <b>Your summary settings</b> (private chats and inline mode)

    Language: { $language ->
        [auto] the text’s own
       *[other] { language-name }
    }
    Length: { length-name }

    The bot’s language: { locale-name }
language-button = { $language ->
    [auto] Text’s own
    [en] EN
    [ru] RU
   *[other] { $language }
  }
no-history = You have no summaries yet.
history = <b>Your recent summaries</b>
history-entry = { $at } · { $source ->
        [channel-post] channel post
        [link] link
       *[text] text
    } · { $prompt }+{ $completion } tokens · { $paidBy ->
        [free] free
        [sponsor] { $cost } (sponsor)
       *[credit] { $cost }
    }
history-receipt = receipt <code>{ $receipt }</code>
privacy =
    <b>Who can see what</b>
    • Your texts and summaries are read only inside an attested enclave (Intel TDX) of a worker; the bot checks its attestation before sealing the job to it.
    • The proxy routes sealed data: it sees sizes, timing and prices, never content.
    • The bot keeps a summary only for a while, so your links to it work; it keeps no texts, and logs no content.
    • /history holds tokens, costs and receipt ids, never content.
privacy-last = Your last summary was served by a worker attested as <b>{ $attestation ->
        [unknown] unknown
       *[other] { $attestation }
    }</b>{ $attestation ->
        [dev] {" "}(a development attestation: test networks only)
       *[other] {""}
    }{ $receipt ->
        [none] .
       *[other] ; its receipt: <code>{ $receipt }</code>.
    }
