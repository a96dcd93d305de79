import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@cocoon/shared/log';
import { type Entry, type Pattern, parse, Visitor } from '@fluent/syntax';
import type { Chat, Message } from 'grammy/types';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCALES_DIR, Locale, UserLocales } from '../../src/i18n.js';
import { confirmCredit } from '../../src/start.js';
import { type Harness, startHarness } from '../support/harness.js';

/** Every message of a locale file, with the variables and messages each one refers to. */
function readLocale(locale: Locale): Map<string, string[]> {
  const resource = parse(readFileSync(join(LOCALES_DIR, `${locale}.ftl`), 'utf8'), {});
  const junk = resource.body.filter((entry: Entry) => entry.type === 'Junk');
  expect(junk, `${locale}.ftl has syntax errors`).toEqual([]);
  const messages = new Map<string, string[]>();
  for (const entry of resource.body) {
    if (entry.type !== 'Message' || entry.value === null) continue;
    const references = new Set<string>();
    class References extends Visitor {
      override visitVariableReference(node: { id: { name: string } }) {
        references.add(`$${node.id.name}`);
      }
      override visitMessageReference(node: { id: { name: string } }) {
        references.add(node.id.name);
      }
    }
    new References().visit(entry.value as Pattern);
    messages.set(entry.id.name, [...references].sort());
  }
  return messages;
}

describe('locale files', () => {
  it('are one per locale the bot speaks', () => {
    expect(readdirSync(LOCALES_DIR).sort()).toEqual(Locale.options.map((locale) => `${locale}.ftl`));
  });

  it('have the same keys, each with the same variables and message references', () => {
    const english = readLocale('en');
    const russian = readLocale('ru');
    expect([...russian.keys()].sort()).toEqual([...english.keys()].sort());
    for (const [key, references] of english) expect(russian.get(key), key).toEqual(references);
  });

  it('hold every key the source asks for', () => {
    const english = readLocale('en');
    const sources = readdirSync(new URL('../../src', import.meta.url), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => readFileSync(new URL(`../../src/${file}`, import.meta.url), 'utf8'))
      .join('\n');
    const used = new Set([...sources.matchAll(/\bt\(\s*'([a-z-]+)'/g)].map((match) => match[1] as string));
    expect(used.size).toBeGreaterThan(30);
    expect([...used].filter((key) => !english.has(key))).toEqual([]);
  });
});

describe('a Russian-speaking user', () => {
  let h: Harness;
  const ivan = { id: 700, is_bot: false as const, first_name: 'Иван <3', language_code: 'ru' };
  const ann = { id: 701, is_bot: false as const, first_name: 'Ann', language_code: 'en-GB' };

  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.close());

  it('is greeted, helped and shown the balance in Russian, with the name still escaped', async () => {
    await h.bot.handleUpdate(h.api.command(ivan, 'start'));
    await h.bot.handleUpdate(h.api.command(ivan, 'help'));
    await h.bot.handleUpdate(h.api.command(ivan, 'balance'));
    expect(String(h.api.callsTo('sendMessage')[0]?.text)).toContain('Здравствуйте, Иван &lt;3!');
    const [welcome, help, balance] = h.api.shownTexts(ivan.id);
    expect(welcome).toContain('Перешлите мне пост или вставьте текст.');
    expect(help).toContain('Что я умею');
    expect(help).toContain(`@${h.api.botInfo.username} https://…`);
    expect(balance).toBe(
      'Ваш баланс: 0 TON\nБесплатных пересказов на сегодня осталось: 5 из 5\n\nПополнить баланс: /topup.',
    );
  });

  it('is told in Russian that a summary failed, and that a private address is refused', async () => {
    h.summarizer.failNext();
    await h.bot.handleUpdate(h.api.privateText(ivan, 'Длинный текст для пересказа. '.repeat(10)));
    await h.bot.handleUpdate(h.api.privateText(ivan, 'http://127.0.0.1/admin'));
    expect(h.api.shownTexts(ivan.id)).toEqual([
      '⏳ Пересказываю…',
      'Сейчас не получилось сделать пересказ. Попробуйте ещё раз через минуту.',
      '⏳ Читаю страницу…',
      'Не могу открыть эту ссылку: она ведёт на адрес в частной или локальной сети.',
    ]);
  });

  it('does not change the language of others in the same bot', async () => {
    await h.bot.handleUpdate(h.api.command(ivan, 'start'));
    await h.bot.handleUpdate(h.api.command(ann, 'start'));
    expect(h.api.shownTexts(ann.id)[0]).toMatch(/^Hi, Ann! I summarize/);
  });

  it('may choose the bot’s language in /settings, whatever their app reports', async () => {
    await h.bot.handleUpdate(h.api.command(ann, 'settings'));
    const panel = h.api.sentMessages(ann.id)[0] as Message;
    await h.bot.handleUpdate(h.api.callbackQuery(ann, panel, 'us:locale:ru'));
    expect(h.api.callsTo('answerCallbackQuery')[0]).toMatchObject({ text: 'Сохранено' });
    const edited = h.api.message(ann.id, panel.message_id);
    expect(edited?.text).toContain('Язык бота: Русский');
    expect(edited?.reply_markup?.inline_keyboard.at(-1)?.map((button) => button.text)).toEqual([
      'English',
      '✓ Русский',
    ]);
    await h.bot.handleUpdate(h.api.command(ann, 'balance'));
    expect(h.api.shownTexts(ann.id).at(-1)).toMatch(/^Ваш баланс/);
    expect(await h.store.getUserLocale(ann.id)).toEqual({ userId: ann.id, locale: 'ru', chosen: true });
  });

  it('gets notifications outside their own updates in Russian: a top-up, a missing admin right, the button', async () => {
    const channel = h.api.channel(-1009876543210, 'Новости <порта>') as Chat.ChannelChat;
    const member = h.api.botAdministrator();
    h.api.setBotMember(channel.id, member);
    await h.bot.handleUpdate(
      h.api.myChatMember(channel, ivan, { status: 'left', user: h.api.botInfo }, member),
    );
    expect(h.api.shownTexts(ivan.id)[0]).toMatch(/^Меня добавили в канал Новости <порта>\./);

    // A channel post has no user: the button and the warning speak the admin's language.
    const withButton = h.api.channelPost(
      channel,
      'Порт продлевает вечерние рейсы парома до 23:00. '.repeat(12),
    );
    await h.bot.handleUpdate(withButton);
    const message = h.api.message(channel.id, withButton.channel_post?.message_id ?? 0);
    expect(message?.reply_markup?.inline_keyboard[0]?.[0]?.text).toBe('✨ Кратко');
    h.api.setBotMember(channel.id, h.api.botAdministrator({ can_edit_messages: false }));
    await h.bot.handleUpdate(
      h.api.channelPost(channel, 'Расписание на выходные опубликовано на сайте. '.repeat(12)),
    );
    expect(h.api.shownTexts(ivan.id).at(-1)).toMatch(
      /^⚠️ Не могу добавить кнопку ✨ Кратко в канале Новости <порта>/,
    );

    const logger = createLogger('bot-test', 'silent');
    await confirmCredit(
      h.bot,
      { store: h.store, locales: new UserLocales(h.store), logger },
      {
        userId: ivan.id,
        amount: 2_000_000_000n,
      },
    );
    expect(h.api.shownTexts(ivan.id).at(-1)).toBe('✅ Зачислено 2 TON. Ваш баланс: 0 TON.');
  });

  it('is someone the bot never met: English', async () => {
    const logger = createLogger('bot-test', 'silent');
    await confirmCredit(
      h.bot,
      { store: h.store, locales: new UserLocales(h.store), logger },
      {
        userId: 999,
        amount: 1_000_000_000n,
      },
    );
    expect(h.api.shownTexts(999)).toEqual(['✅ 1 TON added. Your credit: 0 TON.']);
  });
});
