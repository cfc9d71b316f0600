/* tfladder's Check button (the hub's hidden-test checks on demand, docs/hub.md).
 *
 * A JupyterLab 4 federated extension written by hand, without a build: this file is the webpack
 * module-federation container JupyterLab loads (`init` receives JupyterLab's shared modules,
 * `get("./extension")` returns the plugin). It uses only JupyterLab's own shared modules.
 *
 * The button (and the command "tfladder:check", in the notebook's context menu) saves the
 * notebook, asks the user's own Jupyter server to send it to the hub's check service (POST
 * <base>/tfladder/check, tfladder_lab_check.py) and shows the points and messages that come
 * back, or why the check was refused.
 */
(function () {
  'use strict';
  var NAME = '@tfladder/check';
  var COMMAND = 'tfladder:check';
  var shared = null;

  function sharedModule(name) {
    var versions = shared[name];
    if (!versions) {
      return Promise.reject(new Error(NAME + ': JupyterLab does not share ' + name));
    }
    var keys = Object.keys(versions);
    var chosen = keys.filter(function (k) { return versions[k].loaded; })[0] || keys[0];
    return Promise.resolve(versions[chosen].get()).then(function (factory) { return factory(); });
  }

  function cookie(name) {
    var match = document.cookie.match('\\b' + name + '=([^;]*)\\b');
    return match ? decodeURIComponent(match[1]) : '';
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // What the service answered, as the dialog's body.
  function report(answer) {
    var body = element('div', 'tfladder-check');
    body.style.maxWidth = '46em';
    if (answer.refused) {
      body.appendChild(element('p', 'tfladder-check-refused', answer.refused));
      return body;
    }
    var head = element('p', 'tfladder-check-score');
    head.appendChild(element('b', '', answer.points + ' / ' + answer.max_points));
    head.appendChild(document.createTextNode(
      ' autograded points on fresh hidden inputs (seed ' + answer.seed + '; the graded inputs will differ).'));
    body.appendChild(head);
    if (answer.error) {
      body.appendChild(element('p', 'tfladder-check-error', answer.error));
    }
    (answer.flags || []).forEach(function (flag) {
      body.appendChild(element('p', 'tfladder-check-flag', 'Flagged for your instructor: ' + flag));
    });
    var list = element('ul', 'tfladder-check-exercises');
    (answer.exercises || []).forEach(function (exercise) {
      var item = element('li', 'tfladder-check-exercise');
      var shown = exercise.points === null ? 'graded by hand' : exercise.points + ' / ' + exercise.max_points;
      item.appendChild(element('b', '', exercise.exercise + ': ' + shown));
      exercise.messages.forEach(function (message) {
        var text = element('pre', 'tfladder-check-message', message);
        text.style.whiteSpace = 'pre-wrap';
        item.appendChild(text);
      });
      list.appendChild(item);
    });
    body.appendChild(list);
    body.appendChild(element('p', 'tfladder-check-remaining', answer.remaining_text || ''));
    return body;
  }

  function plugin(apputils, ui, widgets) {
    return {
      id: NAME + ':plugin',
      description: 'A Check button that grades the notebook against the hidden tests on the hub.',
      autoStart: true,
      activate: function (app) {
        var base = (app.serviceManager.serverSettings.baseUrl || '/').replace(/\/?$/, '/');

        function ask(path) {
          var headers = { 'Content-Type': 'application/json', 'X-XSRFToken': cookie('_xsrf') };
          var token = app.serviceManager.serverSettings.token;
          if (token) { headers.Authorization = 'token ' + token; }
          return fetch(base + 'tfladder/check', {
            method: 'POST', headers: headers, credentials: 'same-origin', body: JSON.stringify({ path: path })
          }).then(function (response) {
            return response.json().catch(function () {
              return { refused: 'The check service answered ' + response.status + ' without a result; ask your instructor.' };
            });
          });
        }

        function check(context) {
          var path = context.path;
          var note = apputils.Notification.emit(
            'Checking ' + path + ' against the hidden tests: a minute or two.', 'in-progress', { autoClose: false });
          function done(message, type) {
            apputils.Notification.update({ id: note, message: message, type: type, autoClose: 5000 });
          }
          return context.save().then(function () { return ask(path); }).then(function (answer) {
            if (answer.refused) {
              done('No check this time: ' + answer.refused, 'warning');
            } else {
              done('Checked ' + path + ': ' + answer.points + ' / ' + answer.max_points + ' points.', 'success');
            }
            return apputils.showDialog({
              title: answer.refused ? 'No check this time' : 'Hidden-test check: ' + (answer.assignment || path),
              body: new widgets.Widget({ node: report(answer) }),
              buttons: [apputils.Dialog.okButton({ label: 'Close' })]
            });
          }).catch(function (error) {
            done('The check could not be made: ' + error, 'error');
            return apputils.showErrorMessage('The check could not be made', error);
          });
        }

        function current() {
          var widget = app.shell.currentWidget;
          return widget && widget.context && widget.content && widget.content.model &&
            widget.context.path.endsWith('.ipynb') ? widget : null;
        }

        app.commands.addCommand(COMMAND, {
          label: 'Check against the hidden tests',
          caption: 'Save this notebook and grade it against the hidden tests on fresh inputs',
          isEnabled: function () { return current() !== null; },
          execute: function () {
            var widget = current();
            return widget ? check(widget.context) : undefined;
          }
        });
        app.contextMenu.addItem({ command: COMMAND, selector: '.jp-Notebook', rank: 0 });

        app.docRegistry.addWidgetExtension('Notebook', {
          createNew: function (panel, context) {
            var button = new (ui.ToolbarButton || apputils.ToolbarButton)({
              className: 'tfladder-check-button',
              label: 'Check',
              tooltip: 'Save and check this notebook against the hidden tests (fresh inputs each time)',
              onClick: function () { check(context); }
            });
            panel.toolbar.insertItem(10, 'tfladderCheck', button);
            return button;
          }
        });
      }
    };
  }

  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = {
    init: function (scope) { shared = scope; },
    get: function (module) {
      if (module !== './extension') {
        return Promise.reject(new Error(NAME + ' has no module ' + module));
      }
      var names = ['@jupyterlab/apputils', '@jupyterlab/ui-components', '@lumino/widgets'];
      return Promise.all(names.map(sharedModule)).then(
        function (found) {
          var made = plugin(found[0], found[1], found[2]);
          return function () { return { __esModule: true, default: [made] }; };
        });
    }
  };
})();
