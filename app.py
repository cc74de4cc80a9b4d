"""The Chalice app ``yiwei``: creates the app, registers blueprints and middleware, nothing else."""

from chalice.app import Chalice

from chalicelib.api import auth, his_results, openapi, reference, wechat
from chalicelib.api.booking import bp as booking_bp
from chalicelib.api.cards import bp as cards_bp
from chalicelib.api.his_events import bp as his_events_bp
from chalicelib.api.middleware import access_log_and_errors
from chalicelib.api.payments import bp as payments_bp
from chalicelib.api.reconciliation import bp as reconciliation_bp
from chalicelib.api.reports import bp as reports_bp
from chalicelib.api.schedules import bp as schedules_bp

app = Chalice(app_name="yiwei")
app.register_middleware(access_log_and_errors, "http")
app.register_blueprint(reference.bp)
app.register_blueprint(openapi.bp)
app.register_blueprint(his_results.bp)
app.register_blueprint(auth.bp)
app.register_blueprint(wechat.bp)
app.register_blueprint(reports_bp)
app.register_blueprint(reconciliation_bp)
app.register_blueprint(his_events_bp)
app.register_blueprint(schedules_bp)
app.register_blueprint(cards_bp)
app.register_blueprint(payments_bp)
app.register_blueprint(booking_bp)
